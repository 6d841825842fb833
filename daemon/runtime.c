/*
 * runtime.c: the process-wide runtime state every part may read: the event
 * loop (NULL in itsmctl and the unit tests, which run none) and whether the
 * daemon is stopping.  Only daemon/itsmd.c writes them.
 */
#include "itsmd.h"

struct event_base	*itsmd_base;
volatile bool		 itsmd_stopping;
