# byol — GNU Makefile. `make` builds into build/, `make test` runs the suite,
# `make bench` the benchmarks, `make asan` the suite under ASan + UBSan, `make tsan`
# byold's unit and integration tests under ThreadSanitizer,
# `make install` installs under $(DESTDIR)$(PREFIX). Missing Debian packages
# are installed by apt-get when run as root, or the command is printed. V=1 shows
# the compiler commands.

PREFIX    ?= /usr/local
SYSCONFDIR ?= /etc
BUILD     ?= build
CC        ?= cc
PYTHON    := /usr/bin/python3
THREADS   ?= $(shell nproc)

# libwebpdemux (in libwebp-dev) decodes an animated WebP's first frame as Pillow does.
PKGS      := libuv libcjson openblas sqlite3 libjpeg spng libwebp libwebpdemux zlib openssl
WEB_PKGS  := libwebsockets
BUILD_DEBS := pkg-config libuv1-dev libcjson-dev libopenblas-dev libsqlite3-dev \
	      libjpeg62-turbo-dev libspng-dev libwebp-dev zlib1g-dev libssl-dev libopenmpi-dev \
	      openmpi-bin libwebsockets-dev
TEST_DEBS := libcmocka-dev python3-torch python3-torchvision python3-numpy python3-pil \
	     iproute2 slurm-wlm munge chromium
DATA_DEBS := dataset-fashion-mnist

# Quiet build lines ("  CC  daemon/nn/conv.c"); V=1 prints the whole commands.
V         ?= 0
Q         := $(if $(filter 1,$(V)),,@)
say        = $(if $(filter 1,$(V)),:,printf '  %-4s %s\n' '$(1)' '$(2)')

OPT       ?= -O2 -g
NN_OPT    ?= -O3 -fno-tree-loop-distribute-patterns
CFLAGS    := $(OPT) -std=c11 -D_GNU_SOURCE -Wall -Wextra -MMD -MP -pthread
CPPFLAGS  += -Icommon -Idaemon
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
LDLIBS    += $(PKG_LIBS) -lm -pthread
# MPI (distributed byol-train, daemon/dist): Open MPI when pkg-config finds it;
# without it byol-train still builds and refuses to run under mpirun.
MPI_CFLAGS = $(shell pkg-config --exists ompi-c 2>/dev/null && echo -DBYOL_HAVE_MPI \
	       $$(pkg-config --cflags ompi-c))
MPI_LIBS   = $(shell pkg-config --libs ompi-c 2>/dev/null)

COMMON_SRC := $(wildcard common/*.c)
NN_SRC     := $(wildcard daemon/nn/*.c)
BYOL_SRC   := $(wildcard daemon/byol/*.c)
DATA_SRC   := $(wildcard daemon/data/*.c)
DAEMON_SRC := $(filter-out daemon/byold.c daemon/byol_train.c,$(wildcard daemon/*.c)) \
	      $(wildcard daemon/server/*.c daemon/jobs/*.c daemon/store/*.c daemon/engine/*.c) \
	      daemon/web/session.c daemon/web/bridge.c
CORE_SRC   := $(COMMON_SRC) $(NN_SRC) $(BYOL_SRC) $(DATA_SRC) $(DAEMON_SRC)
PRESETS    := $(sort $(wildcard common/presets/*.json))
CORE_OBJ   := $(CORE_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/presets.o
# The dashboard's listener (libwebsockets) and its embedded front-end: byold only.
WEB_OBJ    := $(BUILD)/daemon/web/web.o $(BUILD)/gen/web_bundle.o
BIN        := $(BUILD)/byol-train $(BUILD)/byold $(BUILD)/byolctl
# byolctl links no training engine: its own files and common/'s spec and presets
# (for --dry-run), SHA-256, the line framer, UTF-8 and the safetensors reader/writer.
CTL_OBJ    := $(patsubst %.c,$(BUILD)/%.o,$(wildcard client/*.c) common/spec.c common/err.c \
	      common/sha256.c common/rpc_frame.c common/safetensors.c common/safetensors_write.c common/atomic_file.c \
	      common/utf8.c common/hostport.c common/json_text.c common/spec_presets.c \
	      common/eval_request.c) $(BUILD)/gen/presets.o

UNIT_SRC   := $(wildcard tests/unit/test_*.c)
REF_SRC    := $(wildcard tests/ref/test_*.c)
TEST_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%) $(REF_SRC:tests/ref/%.c=$(BUILD)/tests/%)
INTEG      := $(wildcard tests/integration/test_*.py)
BENCH_BIN  := $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(wildcard tests/bench/*.c))
# Fuzz targets (tests/fuzz): `make test` replays their corpora, `make fuzz` fuzzes.
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_REPLAY := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/tests/%)
TEST_BIN   += $(FUZZ_REPLAY)

.PHONY: all test bench quality asan tsan install deps test-deps clean
all: $(BUILD)/.deps $(BIN) $(TEST_BIN) $(BENCH_BIN)

# ---- dependencies ------------------------------------------------------

# Install (as root) or name the Debian packages that are missing.
define need_debs
	@missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
		| grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing: $$missing"; \
			apt-get -o DPkg::Lock::Timeout=300 update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends \
				$$missing >/dev/null || exit 1; \
		else \
			echo "missing packages; run: sudo apt-get install $$missing" >&2; exit 1; \
		fi; \
	fi
endef

$(BUILD)/.deps: Makefile
	$(call need_debs,$(BUILD_DEBS))
	@mkdir -p $(@D) && touch $@

# After .deps: two apt-get runs at once (make -j) would fight over apt's lock.
$(BUILD)/.test-deps: Makefile | $(BUILD)/.deps
	$(call need_debs,$(TEST_DEBS) $(DATA_DEBS))
	@mkdir -p $(@D) && touch $@

deps: $(BUILD)/.deps
test-deps: $(BUILD)/.test-deps

# ---- compiling ---------------------------------------------------------

$(BUILD)/%.o: %.c Makefile | $(BUILD)/.deps
	@mkdir -p $(@D)
	@$(call say,CC,$<)
	$(Q)$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) -c $< -o $@

# The kernels' (and the augmentations') loops are written to vectorise: -O3 lets GCC do it (same FP semantics),
# and keeps short copy loops inline rather than calls to memcpy/memset.
$(BUILD)/daemon/nn/%.o: daemon/nn/%.c Makefile | $(BUILD)/.deps
	@mkdir -p $(@D)
	@$(call say,CC,$<)
	$(Q)$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) $(NN_OPT) -c $< -o $@

# The hand-vectorised kernels multiply-add in one rounding (FMA), as OpenBLAS does.
$(BUILD)/daemon/nn/conv_direct.o: NN_OPT += -ffp-contract=fast

$(BUILD)/daemon/data/augment%.o: daemon/data/augment%.c Makefile | $(BUILD)/.deps
	@mkdir -p $(@D)
	@$(call say,CC,$<)
	$(Q)$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) $(NN_OPT) -c $< -o $@

# Presets are compiled in, so a binary needs nothing beside it.
$(BUILD)/gen/presets.c: $(PRESETS) common/presets/embed.sh
	@mkdir -p $(@D)
	@$(call say,GEN,$@)
	$(Q)sh common/presets/embed.sh $(PRESETS) > $@

$(BUILD)/gen/presets.o: $(BUILD)/gen/presets.c
	@$(call say,CC,$<)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/daemon/dist/%.o: daemon/dist/%.c Makefile | $(BUILD)/.deps
	@mkdir -p $(@D)
	@$(call say,CC,$<)
	$(Q)$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(MPI_CFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/byol-train: $(BUILD)/daemon/byol_train.o $(BUILD)/daemon/dist/dist.o $(CORE_OBJ)
	@$(call say,LD,$@)
	$(Q)$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS) $(MPI_LIBS)

$(BUILD)/byold: $(BUILD)/daemon/byold.o $(CORE_OBJ) $(WEB_OBJ)
	@$(call say,LD,$@)
	$(Q)$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS) $(shell pkg-config --libs $(WEB_PKGS) 2>/dev/null)

# ---- the dashboard's front-end (client/web) --------------------------------

# npm packages pinned by client/web/package-lock.json; esbuild bundles the
# sources into build/web/, and embed.sh compiles that into byold. npm comes from
# Debian when the machine has none.
WEB_FILES  := client/web/index.html $(wildcard client/web/src/*.js client/web/src/*.css)

$(BUILD)/.npm: client/web/package-lock.json | $(BUILD)/.deps
	@command -v npm >/dev/null || { [ "$$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive \
		apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends nodejs npm \
		>/dev/null; } || { echo "npm missing; run: sudo apt-get install npm" >&2; exit 1; }
	@$(call say,NPM,client/web/package-lock.json)
	$(Q)cd client/web && npm ci --no-audit --no-fund --loglevel=error
	@mkdir -p $(@D) && touch $@

$(BUILD)/web/app.js: $(WEB_FILES) $(BUILD)/.npm
	@mkdir -p $(@D)
	@$(call say,JS,$@)
	$(Q)client/web/node_modules/.bin/esbuild client/web/src/main.js --bundle --minify \
		--target=es2020 --outfile=$@ --log-level=warning
	$(Q)cp client/web/index.html $(@D)/index.html

$(BUILD)/gen/web_bundle.c: $(BUILD)/web/app.js client/web/embed.sh
	@mkdir -p $(@D)
	@$(call say,GEN,$@)
	$(Q)sh client/web/embed.sh $(BUILD)/web/index.html $(BUILD)/web/app.js $(BUILD)/web/app.css > $@

$(BUILD)/gen/web_bundle.o: $(BUILD)/gen/web_bundle.c
	@$(call say,CC,$<)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/byolctl: $(CTL_OBJ)
	@$(call say,LD,$@)
	$(Q)$(CC) $(CFLAGS) $^ -o $@ $(shell pkg-config --libs libcjson openssl 2>/dev/null) -lm

$(BUILD)/tests/%: tests/unit/%.c $(CORE_OBJ) | $(BUILD)/.test-deps
	@mkdir -p $(@D)
	@$(call say,LD,$@)
	$(Q)$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) $< $(CORE_OBJ) -o $@ $(LDLIBS) -lcmocka

$(BUILD)/tests/%: tests/ref/%.c $(CORE_OBJ) | $(BUILD)/.test-deps
	@mkdir -p $(@D)
	@$(call say,LD,$@)
	$(Q)$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) $< $(CORE_OBJ) -o $@ $(LDLIBS) -lcmocka

$(BUILD)/bench/%: tests/bench/%.c $(CORE_OBJ)
	@mkdir -p $(@D)
	@$(call say,LD,$@)
	$(Q)$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) $< $(CORE_OBJ) -o $@ $(LDLIBS)

# ---- fuzzing ---------------------------------------------------------

# The corpus replay of `make test`: each target with tests/fuzz/replay_main.c.
$(FUZZ_REPLAY): $(BUILD)/tests/%: tests/fuzz/%.c $(BUILD)/tests/fuzz/replay_main.o $(CORE_OBJ)
	@mkdir -p $(@D)
	@$(call say,LD,$@)
	$(Q)$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) $< $(BUILD)/tests/fuzz/replay_main.o \
		$(CORE_OBJ) -o $@ $(LDLIBS)

# `make fuzz`: libFuzzer targets built with clang, ASan and UBSan against the core
# compiled by clang too (apart from the $(CC) objects), each run for FUZZ_SECONDS.
FUZZ_DEBS    := clang libclang-rt-14-dev
FUZZ_CC      := clang
FUZZ_SECONDS ?= 60
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_OBJ     := $(CORE_SRC:%.c=$(BUILD)/fuzz/obj/%.o) $(BUILD)/fuzz/obj/gen/presets.o
FUZZ_BIN     := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)

$(BUILD)/.fuzz-deps: Makefile
	$(call need_debs,$(FUZZ_DEBS))
	@mkdir -p $(@D) && touch $@

$(BUILD)/fuzz/obj/%.o: %.c Makefile | $(BUILD)/.deps $(BUILD)/.fuzz-deps
	@mkdir -p $(@D)
	@$(call say,CC,$<)
	$(Q)$(FUZZ_CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -c $< -o $@

$(BUILD)/fuzz/obj/gen/presets.o: $(BUILD)/gen/presets.c | $(BUILD)/.fuzz-deps
	@mkdir -p $(@D)
	@$(call say,CC,$<)
	$(Q)$(FUZZ_CC) $(CPPFLAGS) $(CFLAGS) $(FUZZ_SAN) -c $< -o $@

$(FUZZ_BIN): $(BUILD)/fuzz/%: tests/fuzz/%.c $(FUZZ_OBJ)
	@$(call say,LD,$@)
	$(Q)$(FUZZ_CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer $< \
		$(FUZZ_OBJ) -o $@ $(LDLIBS)

.PHONY: fuzz fuzz-merge
fuzz: $(FUZZ_BIN)
	@BUILD=$(BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) sh tests/fuzz/run.sh $(FUZZ_BIN)

# Add what the last `make fuzz` found (new edges only) to the committed corpora.
fuzz-merge: $(FUZZ_BIN)
	@BUILD=$(BUILD) sh tests/fuzz/run.sh --merge $(FUZZ_BIN)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# ---- running -----------------------------------------------------------

# PyTorch reference cases, regenerated when the generators change.
$(BUILD)/ref/.stamp: tests/ref/gen_ops.py tests/ref/gen_nets.py tests/ref/gen_byol.py \
		     tests/ref/gen_finetune.py \
		     tests/ref/models.py tests/ref/stio.py | $(BUILD)/.test-deps
	@rm -rf $(BUILD)/ref && mkdir -p $(BUILD)/ref
	$(PYTHON) tests/ref/gen_ops.py $(BUILD)/ref/ops >/dev/null
	$(PYTHON) tests/ref/gen_nets.py $(BUILD)/ref/nets >/dev/null
	$(PYTHON) tests/ref/gen_byol.py $(BUILD)/ref/byol >/dev/null
	$(PYTHON) tests/ref/gen_finetune.py $(BUILD)/ref/finetune >/dev/null
	@touch $@

test: all $(BUILD)/ref/.stamp
	@BUILD=$(BUILD) sh tests/run.sh tests/check_layout.sh $(TEST_BIN) $(INTEG)

bench: all | $(BUILD)/.test-deps
	@BUILD=$(BUILD) THREADS=$(THREADS) PYTHON=$(PYTHON) sh tests/bench/run.sh

# The quality run of fmnist-convnet (about half an hour on 2 cores) beside the
# same encoder left at its random initialisation.
quality: all | $(BUILD)/.test-deps
	$(BUILD)/byol-train fmnist-convnet --out $(BUILD)/quality/byol
	$(BUILD)/byol-train fmnist-convnet --eval-only --out $(BUILD)/quality/random-init

# The demo: fmnist-quick trained under byold and watched live with byolctl, then
# beside its random initialisation (client/demo.sh; about 3 minutes on 2 cores).
.PHONY: demo
demo: $(BUILD)/.deps $(BUILD)/byold $(BUILD)/byolctl $(BUILD)/byol-train
	$(call need_debs,$(DATA_DEBS))
	@BUILD=$(BUILD) sh client/demo.sh

asan:
	BYOL_SANITIZED=1 $(MAKE) BUILD=build-asan \
		OPT="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" NN_OPT= \
		test

# `make tsan`: byold's unit and integration tests under ThreadSanitizer. A report
# ends the process with status 66, which fails its test. test_mpi is left out:
# TSan cannot see Open MPI's own (uninstrumented) synchronisation.
TSAN_UNIT := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TSAN_INTEG := $(filter-out %/test_mpi.py,$(INTEG))
tsan:
	BYOL_SANITIZED=1 TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1" \
		$(MAKE) BUILD=build-tsan OPT="-O1 -g -fsanitize=thread" NN_OPT= tsan-run

.PHONY: tsan-run
tsan-run: all
	@BUILD=$(BUILD) sh tests/run.sh $(TSAN_UNIT) $(TSAN_INTEG)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/systemd/system
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/
	install -d $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man8
	install -d $(DESTDIR)$(PREFIX)/share/man/man5
	install -m 0644 man/byolctl.1 man/byol-train.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 0644 man/byol-spec.5 $(DESTDIR)$(PREFIX)/share/man/man5/
	install -m 0644 man/byold.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	sed 's|/usr/local/bin|$(PREFIX)/bin|' systemd/byold.service \
		> $(DESTDIR)$(PREFIX)/lib/systemd/system/byold.service
	install -m 0644 systemd/byold.socket $(DESTDIR)$(PREFIX)/lib/systemd/system/
	install -d $(DESTDIR)$(SYSCONFDIR)/byold
	[ -e $(DESTDIR)$(SYSCONFDIR)/byold/byold.conf.json ] || \
		install -m 0644 systemd/byold.conf.json $(DESTDIR)$(SYSCONFDIR)/byold/

clean:
	rm -rf build build-asan build-tsan
