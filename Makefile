# lmterm — GNU make
#   make            build ./lmterm
#   make deps       install the Debian packages it needs (sudo when not root)
#   make check      build and run every test (SAN=1: under ASan + UBSan)
#   make bench      benchmark synthetic full-size models
#   make bench-serve  lmterm serve's throughput with 1, 2, 4 and 8 clients
#   make install    PREFIX=/usr/local DESTDIR=
#   make fuzz       FUZZ_SECONDS=N per target (clang libFuzzer)

PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR   = $(PREFIX)/bin
DATADIR  = $(PREFIX)/share/lmterm
MANDIR   = $(PREFIX)/share/man/man1

CC      ?= cc
VERSION := 0.1.0
SAN     ?=

# ---- dependencies ----
# Each library is looked up with pkg-config before anything compiles, so that
# a missing one is a single line naming its Debian package rather than an
# error deep in a source file (libblas-dev alone, say, lacks OpenBLAS's own
# calls). `make deps` installs them all, with sudo only when not root.
DEPS := openblas:libopenblas-dev ncursesw:libncurses-dev readline:libreadline-dev \
        yaml-0.1:libyaml-dev libcurl:libcurl4-openssl-dev libmicrohttpd:libmicrohttpd-dev
DEB_PACKAGES := build-essential pkg-config $(foreach d,$(DEPS),$(word 2,$(subst :, ,$(d)))) \
                tmux man-db groff-base python3 curl openssl
ifeq ($(filter deps clean format uninstall,$(MAKECMDGOALS)),)
  ifeq ($(shell command -v pkg-config),)
    $(error pkg-config is not installed: apt-get install pkg-config, or `make deps` for everything)
  endif
  MISSING := $(strip $(foreach d,$(DEPS),$(if $(shell pkg-config --exists $(word 1,$(subst :, ,$(d))) && echo y),,$(d))))
  ifneq ($(MISSING),)
    $(error missing $(foreach d,$(MISSING),$(word 1,$(subst :, ,$(d)))) (pkg-config): apt-get install $(foreach d,$(MISSING),$(word 2,$(subst :, ,$(d)))), or `make deps`)
  endif
endif

BLAS_CFLAGS := $(shell pkg-config --cflags openblas 2>/dev/null)
BLAS_LIBS   := $(shell pkg-config --libs openblas 2>/dev/null || echo -lopenblas)

CPPFLAGS += -D_GNU_SOURCE -DLMTERM_VERSION='"$(VERSION)"' -DLMTERM_DATADIR='"$(DATADIR)"' -MMD -MP
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -Wall -Wextra -pthread

ifeq ($(SAN),1)
  BUILD   ?= build/san
  CFLAGS  += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  LDFLAGS += -fsanitize=address,undefined
else
  BUILD   ?= build/release
endif

# SIMD kernels are compiled for their instruction sets and chosen at run time.
AVX2_FLAGS   := -mavx2 -mfma -mf16c
AVX512_FLAGS := -mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx512vnni -mavx512bf16 -mfma -mf16c \
                -mamx-tile -mamx-int8

# ---- layers ----
# Each folder of src/ is an archive that sees only its own headers and those
# of the layers below it (include/ mirrors src/), and each links only the
# libraries it needs: a curses or libcurl include below its layer fails the
# build, and so does a call into a layer above.
LAYERS := base infer app serve tui cli

INC_base  := -Iinclude/base
INC_infer := $(INC_base) -Iinclude/infer
INC_app   := $(INC_infer) -Iinclude/app
INC_serve := $(INC_app) -Iinclude/serve
INC_tui   := $(INC_app) -Iinclude/tui
INC_cli   := $(INC_app) -Iinclude/serve -Iinclude/tui -Iinclude/cli

LIBS_base  := -lpthread -lm
LIBS_infer := $(BLAS_LIBS) $(LIBS_base)
LIBS_app   := -lyaml -lreadline -lcurl $(LIBS_infer)
LIBS_serve := -lmicrohttpd $(LIBS_app)
LIBS_tui   := -lncursesw $(LIBS_app)
LIBS_cli   := -lmicrohttpd -lncursesw $(LIBS_app)

layer_src = $(wildcard src/$(1)/*.c)
layer_obj = $(patsubst src/%.c,$(BUILD)/src/%.o,$(call layer_src,$(1)))
layer_lib = $(BUILD)/lib$(1).a
# The archives of a layer and of those below it, in link order.
below_base  := $(call layer_lib,base)
below_infer := $(call layer_lib,infer) $(below_base)
below_app   := $(call layer_lib,app) $(below_infer)
below_serve := $(call layer_lib,serve) $(below_app)
below_tui   := $(call layer_lib,tui) $(below_app)
below_cli   := $(call layer_lib,tui) $(call layer_lib,serve) $(below_app)

ALL_OBJ := $(foreach l,$(LAYERS),$(call layer_obj,$(l)))
BIN     := $(BUILD)/lmterm

# Unit tests per layer: tests/unit/L/*.c link layer L and those below it.
TEST_LAYERS := base infer app serve
test_obj  = $(patsubst tests/unit/%.c,$(BUILD)/tests/%.o,$(wildcard tests/unit/$(1)/*.c))
TESTBINS := $(foreach l,$(TEST_LAYERS),$(BUILD)/unit-$(l))
RUNNER   := $(BUILD)/tests/runner.o

.PHONY: all unit check bench install uninstall clean fuzz format deps

all: lmterm

lmterm: $(BIN)
ifneq ($(SAN),1)
	@cp $(BIN) lmterm
endif

$(BIN): $(call layer_obj,cli) $(below_cli)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS_cli) $(LDLIBS)

$(BUILD)/lib%.a:
	@rm -f $@
	$(AR) rcs $@ $^
$(foreach l,base infer app serve tui,$(eval $(call layer_lib,$(l)): $(call layer_obj,$(l))))

$(BUILD)/src/%_avx2.o: src/%_avx2.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(INC_infer) $(BLAS_CFLAGS) $(CFLAGS) $(AVX2_FLAGS) -c -o $@ $<

$(BUILD)/src/%_avx512.o: src/%_avx512.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(INC_infer) $(BLAS_CFLAGS) $(CFLAGS) $(AVX512_FLAGS) -c -o $@ $<

# The first folder of the path names the layer, and so its include path.
$(BUILD)/src/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(INC_$(firstword $(subst /, ,$*))) $(BLAS_CFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%.o: tests/unit/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(or $(INC_$(firstword $(subst /, ,$*))),$(INC_base)) -Itests/unit $(CFLAGS) -c -o $@ $<

$(BUILD)/unit-base: $(call test_obj,base) $(RUNNER) $(below_base)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS_base) $(LDLIBS)
$(BUILD)/unit-infer: $(call test_obj,infer) $(RUNNER) $(below_infer)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS_infer) $(LDLIBS)
$(BUILD)/unit-app: $(call test_obj,app) $(RUNNER) $(below_app)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS_app) $(LDLIBS)
$(BUILD)/unit-serve: $(call test_obj,serve) $(RUNNER) $(below_serve)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS_serve) $(LDLIBS)

unit: $(TESTBINS)

check: $(BIN) $(TESTBINS)
	@LMTERM_BIN=$(abspath $(BIN)) LMTERM_UNITS="$(abspath $(TESTBINS))" tests/run.sh

bench: lmterm
	@tests/bench.sh

.PHONY: bench-serve
bench-serve: lmterm
	@LMTERM_BIN=$(abspath lmterm) tests/bench_serve.sh

fuzz:
	@tests/fuzz/run.sh $(FUZZ_SECONDS)

# Installs the binary of this build ($(BIN)), so `make && sudo make install`
# and `make install SAN=1` need no rebuild. The program finds its data as
# ../share/lmterm beside its bin folder (see config_data_dir), which also holds
# for a DESTDIR staging copy.
install: $(BIN)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR) $(DESTDIR)$(DATADIR)/themes $(DESTDIR)$(DATADIR)/config
	install -m 755 $(BIN) $(DESTDIR)$(BINDIR)/lmterm
	install -m 644 man/lmterm.1 $(DESTDIR)$(MANDIR)/lmterm.1
	install -m 644 themes/*.yaml $(DESTDIR)$(DATADIR)/themes/
	install -m 644 config/lmterm.yaml $(DESTDIR)$(DATADIR)/config/lmterm.yaml

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/lmterm $(DESTDIR)$(MANDIR)/lmterm.1
	rm -rf $(DESTDIR)$(DATADIR)

# The packages to build, test and read the manual (Debian, Ubuntu).
deps:
	@sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	set -x; $$sudo apt-get update && $$sudo apt-get install -y --no-install-recommends $(DEB_PACKAGES)

format:
	clang-format -i src/*/*.c src/*/*.h include/*/*.h tests/unit/*.c tests/unit/*/*.c tests/unit/*.h

clean:
	rm -rf build lmterm

-include $(ALL_OBJ:.o=.d) $(foreach l,$(TEST_LAYERS),$(patsubst %.o,%.d,$(call test_obj,$(l)))) $(RUNNER:.o=.d)
