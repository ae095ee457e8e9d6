# lmterm — GNU make
#   make            build ./lmterm
#   make check      build and run every test (SAN=1: under ASan + UBSan)
#   make bench      benchmark synthetic full-size models
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

BLAS_CFLAGS := $(shell pkg-config --cflags openblas 2>/dev/null)
BLAS_LIBS   := $(shell pkg-config --libs openblas 2>/dev/null || echo -lopenblas)

CPPFLAGS += -Iinclude -D_GNU_SOURCE -DLMTERM_VERSION='"$(VERSION)"' \
            -DLMTERM_DATADIR='"$(DATADIR)"' $(BLAS_CFLAGS) -MMD -MP
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -Wall -Wextra -pthread
LDLIBS   += -lncursesw -lreadline -lyaml $(BLAS_LIBS) -lpthread -lm

ifeq ($(SAN),1)
  BUILD   ?= build/san
  CFLAGS  += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  LDFLAGS += -fsanitize=address,undefined
else
  BUILD   ?= build/release
endif

# SIMD kernels are compiled for their instruction sets and chosen at run time.
AVX2_FLAGS   := -mavx2 -mfma -mf16c
AVX512_FLAGS := -mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx512vnni -mavx512bf16 -mfma -mf16c

LIB_SRC  := $(filter-out src/main.c,$(wildcard src/*.c))
LIB_OBJ  := $(LIB_SRC:src/%.c=$(BUILD)/src/%.o)
TEST_SRC := $(wildcard tests/unit/*.c)
TEST_OBJ := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%.o)
LIB      := $(BUILD)/liblmterm.a
BIN      := $(BUILD)/lmterm
TESTBIN  := $(BUILD)/unit-tests

.PHONY: all check bench install uninstall clean fuzz format

all: lmterm

lmterm: $(BIN)
ifneq ($(SAN),1)
	@cp $(BIN) lmterm
endif

$(BIN): $(BUILD)/src/main.o $(LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(LIB): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/src/%_avx2.o: src/%_avx2.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(AVX2_FLAGS) -c -o $@ $<

$(BUILD)/src/%_avx512.o: src/%_avx512.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(AVX512_FLAGS) -c -o $@ $<

$(BUILD)/src/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%.o: tests/unit/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests/unit $(CFLAGS) -c -o $@ $<

$(TESTBIN): $(TEST_OBJ) $(LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(TEST_OBJ) $(LIB) $(LDLIBS)

check: $(BIN) $(TESTBIN)
	@LMTERM_BIN=$(abspath $(BIN)) LMTERM_UNIT=$(abspath $(TESTBIN)) tests/run.sh

bench: lmterm
	@tests/bench.sh

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

format:
	clang-format -i src/*.c include/*.h tests/unit/*.c tests/unit/*.h

clean:
	rm -rf build lmterm

-include $(LIB_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(BUILD)/src/main.d
