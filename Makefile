# nvmx build. `make` builds build/nvmx; `make check` runs every test (unit,
# guest, differential) in a normal and an ASan+UBSan build; `make bench`
# prints performance figures; `make demo` runs the demo guest.

CC      ?= gcc
BUILD   ?= build
SAN     ?=
CFLAGS_BASE := -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -g -Isrc -D_GNU_SOURCE
ifeq ($(SAN),1)
  OPT := -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
  LDSAN := -fsanitize=address,undefined
else
  OPT := -O2
  LDSAN :=
endif
CFLAGS := $(CFLAGS_BASE) $(OPT) $(EXTRA_CFLAGS)
LDFLAGS := $(LDSAN)

SRCS := $(sort $(wildcard src/cpu/*.c src/dev/*.c src/vmm/*.c src/vmm/nested/*.c src/board/*.c src/migrate/*.c src/ui/*.c))
OBJS := $(SRCS:%.c=$(BUILD)/%.o)
LIBNVMX := $(BUILD)/libnvmx.a

# test helpers (not tests themselves): the QMP client of tests/migrate-test.sh
TOOLS := $(BUILD)/tests/tools/qmpc

UNIT_SRCS := $(sort $(wildcard tests/unit/*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)

.PHONY: all check check-fast bench demo clean guests format linux-check tools
all: $(BUILD)/nvmx

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIBNVMX): $(OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/nvmx: $(BUILD)/src/main.o $(LIBNVMX)
	$(CC) $(LDFLAGS) -o $@ $^ -lm

$(BUILD)/tests/unit/%: tests/unit/%.c $(LIBNVMX) tests/unit/unit.h tests/unit/image_surgery.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(LIBNVMX) $(LDFLAGS) -lm

$(BUILD)/tests/tools/%: tests/tools/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LDFLAGS)

include tests/guest/guest.mk
include tests/diff/diff.mk

unit: $(UNIT_BINS)

tools: $(TOOLS)

# The full test suite: normal build, then the sanitizer build.
check: all unit guests diff tools
	$(MAKE) --no-print-directory BUILD=build-san SAN=1 all unit diff tools
	tests/run-tests.sh build build-san

check-fast: all unit guests diff tools
	tests/run-tests.sh build

# Boots Debian's Linux kernel (tools/get-linux-kernel.sh fetches it to
# build/linux/vmlinuz) with 2 vCPUs to user space, twice; minutes, so not in check.
linux-check: all
	tests/linux-boot.sh $(BUILD)/nvmx
	tests/linux-kvm.sh $(BUILD)/nvmx

bench: all guests
	tests/bench.sh build

demo: all guests
	$(BUILD)/nvmx -nographic -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x4 \
	    -kernel $(BUILD)/guest/demo.elf -append "hello from the command line"; \
	    st=$$?; echo "nvmx exit status $$st"; test $$st -eq 1

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-san

-include $(OBJS:.o=.d) $(BUILD)/src/main.d
