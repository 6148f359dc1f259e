# Differential tests (host CPU vs nvmx), built into $(BUILD)/tests/diff/.
# The decoder-length test uses Zydis when libzydis-dev is installed and is
# built as a SKIP stub otherwise.
DIFF_SRCS := tests/diff/diff_alu.c
DIFF_BINS := $(DIFF_SRCS:tests/diff/%.c=$(BUILD)/tests/diff/%) $(BUILD)/tests/diff/diff_decode_len
HAVE_ZYDIS := $(shell test -f /usr/include/Zydis/Zydis.h && echo yes)

.PHONY: diff
diff: $(DIFF_BINS)

$(BUILD)/tests/diff/%: tests/diff/%.c $(LIBNVMX) tests/unit/cpu_testbench.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LIBNVMX) $(LDFLAGS) -lm

ifeq ($(HAVE_ZYDIS),yes)
$(BUILD)/tests/diff/diff_decode_len: tests/diff/diff_decode_len.c $(LIBNVMX)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DHAVE_ZYDIS -o $@ $< $(LIBNVMX) $(LDFLAGS) -lZydis -lm
else
$(BUILD)/tests/diff/diff_decode_len: tests/diff/diff_decode_len.c $(LIBNVMX)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LIBNVMX) $(LDFLAGS) -lm
endif
