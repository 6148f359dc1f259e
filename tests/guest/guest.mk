# Guest test kernels: tests/guest/NAME.c -> $(BUILD)/guest/NAME.elf, each a
# multiboot v1 kernel (64-bit code, linked at 1 MiB, ELF32 container so that
# multiboot loaders accept it). Built with the system gcc/binutils.

GUEST_CC      ?= gcc
GUEST_LD      ?= ld
GUEST_OBJCOPY ?= objcopy
GUEST_OUT     := $(BUILD)/guest
GUEST_LIBDIR  := tests/guest/lib

# -Wno-clobbered: exc_try() is setjmp-like and gcc warns about every local
# live across it; the rule (locals modified after exc_try() and read after
# the recovery must be volatile) is documented in guest.h and README.md.
GUEST_CFLAGS := -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -Wno-clobbered -O2 -g \
    -ffreestanding -fno-builtin -nostdlib -fno-pic -fno-pie -mno-red-zone -mcmodel=small \
    -fno-stack-protector -fno-asynchronous-unwind-tables -fcf-protection=none \
    -fno-omit-frame-pointer -I$(GUEST_LIBDIR)
# The library and most tests must not touch SSE/x87 registers behind the
# test's back (interrupt handlers, #NM tests with CR0.TS=1); tests listed in
# GUEST_SSE_TESTS are compiled with SSE code generation allowed.
GUEST_NOSSE   := -mgeneral-regs-only
GUEST_SSE_TESTS := sse x87
GUEST_LDFLAGS := -m elf_x86_64 -nostdlib -static -z max-page-size=0x1000 -z noexecstack --build-id=none \
    -T $(GUEST_LIBDIR)/linker.ld $(shell $(GUEST_LD) --help 2>/dev/null | grep -q no-warn-rwx && echo --no-warn-rwx-segments)

# libgcc supplies helpers such as __popcountdi2 and 128-bit division.
GUEST_LIBGCC := $(shell $(GUEST_CC) -print-libgcc-file-name)

GUEST_LIB_SRCS := $(sort $(wildcard $(GUEST_LIBDIR)/*.c $(GUEST_LIBDIR)/*.S))
GUEST_LIB_OBJS := $(patsubst $(GUEST_LIBDIR)/%,$(GUEST_OUT)/lib/%.o,$(GUEST_LIB_SRCS))
GUEST_HDRS := $(wildcard $(GUEST_LIBDIR)/*.h) $(GUEST_LIBDIR)/linker.ld
GUEST_SRCS := $(sort $(wildcard tests/guest/*.c))
GUEST_NAMES := $(GUEST_SRCS:tests/guest/%.c=%)
GUEST_ELFS := $(GUEST_NAMES:%=$(GUEST_OUT)/%.elf)

guests: $(GUEST_ELFS)

$(GUEST_OUT)/lib/%.c.o: $(GUEST_LIBDIR)/%.c $(GUEST_HDRS)
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS) $(GUEST_NOSSE) -c $< -o $@

$(GUEST_OUT)/lib/%.S.o: $(GUEST_LIBDIR)/%.S $(GUEST_HDRS)
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS) -c $< -o $@

$(GUEST_OUT)/%.o: tests/guest/%.c $(GUEST_HDRS)
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS) $(if $(filter $*,$(GUEST_SSE_TESTS)),,$(GUEST_NOSSE)) \
	    -DGUEST_TEST_NAME='"$*"' -c $< -o $@

$(GUEST_OUT)/%.elf: $(GUEST_OUT)/%.o $(GUEST_LIB_OBJS)
	$(GUEST_LD) $(GUEST_LDFLAGS) -o $@.64 $^ $(GUEST_LIBGCC)
	$(GUEST_OBJCOPY) -O elf32-i386 $@.64 $@

.SECONDARY: $(GUEST_ELFS:.elf=.o) $(GUEST_LIB_OBJS)
