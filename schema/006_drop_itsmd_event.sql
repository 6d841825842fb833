-- 006_drop_itsmd_event.sql: itsmd_event() (002) wrote one timeline row; since
-- 005 itsmd_change() writes its timeline rows itself and nothing calls it
-- (not the daemon, itsmctl, the tests nor a later migration).  A function
-- nobody calls only misleads whoever reads the schema.
DROP FUNCTION IF EXISTS itsmd_event(bigint, timestamptz, text, text, text, text, text);
