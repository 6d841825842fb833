# itsmd: build, test, run.  `make run` and `make test` install their own
# Debian dependencies first (tests/env/deps.sh).

PREFIX	?= /usr/local
DESTDIR	?=
SYSCONFDIR ?= $(PREFIX)/etc/itsmd
DATADIR	?= $(PREFIX)/share/itsmd
UNITDIR	?= $(PREFIX)/lib/systemd/system

CC	?= cc
PKGS	 = libevent netsnmp libcurl librrd libpq libsystemd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -levent_pthreads -lpthread -lm

CFLAGS	?= -O2 -g
# Project flags live apart from CFLAGS so that `make CFLAGS=...` (asan) keeps them.
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Iinclude $(PKG_CFLAGS) \
	   -DSCHEMADIR='"$(DATADIR)/schema"' -DSYSCONFDIR='"$(SYSCONFDIR)"' $(CFLAGS)
LDLIBS	+= $(PKG_LIBS)

BUILD	?= build
# Everything but the two programs' main files is shared by itsmd, itsmctl and the tests.
CORE_SRC = $(filter-out daemon/itsmd.c daemon/itsmctl.c, $(wildcard daemon/*.c)) $(wildcard probes/*.c)
CORE_OBJ = $(CORE_SRC:%.c=$(BUILD)/%.o)
# itsmctl's commands: linked into itsmctl only, never into the daemon.
CTL_OBJ  = $(patsubst %.c,$(BUILD)/%.o,$(wildcard daemon/ctl/*.c))
UNIT_SRC = $(wildcard tests/unit/test_*.c)

# Objects depend on the flags they were built with, so `make install
# PREFIX=/usr` after a plain `make` rebuilds with the right compiled-in paths.
FLAGS_FILE = $(BUILD)/.flags
ifneq ($(file <$(FLAGS_FILE)),$(strip $(ALL_CFLAGS) $(LDFLAGS)))
$(shell mkdir -p $(BUILD))
$(file >$(FLAGS_FILE),$(strip $(ALL_CFLAGS) $(LDFLAGS)))
endif
UNIT_BIN = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

all: $(BUILD)/itsmd $(BUILD)/itsmctl itsmd itsmctl

itsmd itsmctl: %: $(BUILD)/%
	ln -sf $(BUILD)/$@ $@

$(BUILD)/itsmd: $(BUILD)/daemon/itsmd.o $(CORE_OBJ)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/itsmctl: $(BUILD)/daemon/itsmctl.o $(CTL_OBJ) $(CORE_OBJ)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c tests/unit/unit.h $(CORE_OBJ) $(FLAGS_FILE)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< $(CORE_OBJ) $(LDLIBS)

$(BUILD)/%.o: %.c include/itsmd.h $(wildcard include/*.h) $(FLAGS_FILE)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

units: $(UNIT_BIN)

deps:
	@tests/env/deps.sh

# ASan+UBSan build in its own directory; `make asan test` runs the suite on it.
asan:
	$(MAKE) BUILD=build-asan CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	    LDFLAGS="-fsanitize=address,undefined" build-asan/itsmd build-asan/itsmctl units-asan

units-asan:
	$(MAKE) BUILD=build-asan CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	    LDFLAGS="-fsanitize=address,undefined" $(UNIT_SRC:tests/unit/%.c=build-asan/tests/%)

# deps runs first and the build is a second make, so that pkg-config is
# asked for flags only after deps.sh has installed the -dev packages.
test: deps
	@$(MAKE) --no-print-directory all units
	@BUILD=$(BUILD) tests/run.sh

test-asan: deps
	@$(MAKE) --no-print-directory asan
	@BUILD=build-asan ASAN_OPTIONS=detect_leaks=1 tests/run.sh

run: deps
	@$(MAKE) --no-print-directory all
	@exec tests/env/demo.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(SYSCONFDIR) \
	    $(DESTDIR)$(DATADIR)/schema $(DESTDIR)$(DATADIR)/templates $(DESTDIR)$(UNITDIR)
	install -m 755 $(BUILD)/itsmd $(DESTDIR)$(PREFIX)/sbin/itsmd
	install -m 755 $(BUILD)/itsmctl $(DESTDIR)$(PREFIX)/bin/itsmctl
	install -m 644 conf/itsmd.conf.example $(DESTDIR)$(SYSCONFDIR)/itsmd.conf.example
	install -m 644 schema/*.sql $(DESTDIR)$(DATADIR)/schema/
	install -m 644 conf/templates/*.conf $(DESTDIR)$(DATADIR)/templates/
	sed -e 's|@SBINDIR@|$(PREFIX)/sbin|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	    systemd/itsmd.service > $(DESTDIR)$(UNITDIR)/itsmd.service
	chmod 644 $(DESTDIR)$(UNITDIR)/itsmd.service

clean:
	rm -rf build build-asan itsmd itsmctl

.PHONY: all units deps asan units-asan test test-asan run install clean
.DELETE_ON_ERROR:
