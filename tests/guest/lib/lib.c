/* Library start-up, string functions and the test framework. */
#include "guest.h"

struct multiboot_info *guest_mbi;
unsigned test_passed, test_failed, test_skipped;

void idt_init(void);
void desc_init(void);
void paging_init(void);

void *memset(void *d, int c, size_t n)
{
    unsigned char *p = d;
    while (n--)
        *p++ = (unsigned char)c;
    return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
    unsigned char *p = d;
    const unsigned char *q = s;
    while (n--)
        *p++ = *q++;
    return d;
}

void *memmove(void *d, const void *s, size_t n)
{
    unsigned char *p = d;
    const unsigned char *q = s;
    if (p < q) {
        while (n--)
            *p++ = *q++;
    } else {
        while (n--)
            p[n] = q[n];
    }
    return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *p = a, *q = b;
    for (; n; n--, p++, q++)
        if (*p != *q)
            return *p - *q;
    return 0;
}

size_t strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

int strcmp(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return (unsigned char)*a - (unsigned char)*b;
}

int strncmp(const char *a, const char *b, size_t n)
{
    for (; n; n--, a++, b++) {
        if (*a != *b)
            return (unsigned char)*a - (unsigned char)*b;
        if (!*a)
            return 0;
    }
    return 0;
}

bool cpu_has(uint32_t leaf, uint32_t sub, int reg, int bit)
{
    struct cpuid_regs max = cpuid(leaf & 0x80000000u, 0);
    if (leaf > max.a)
        return false;
    struct cpuid_regs r = cpuid(leaf, sub);
    uint32_t v = reg == 0 ? r.a : reg == 1 ? r.b : reg == 2 ? r.c : r.d;
    return (v >> bit) & 1;
}

static bool on_qemu;

static void detect_qemu(void)
{
    /* QEMU's multiboot loader passes boot_loader_name "qemu" (flags bit 9).
     * Evaluated once at start-up: tests may overwrite low memory later. */
    on_qemu = guest_mbi && (guest_mbi->flags & (1u << 9)) && guest_mbi->boot_loader_name &&
              strncmp((const char *)(uintptr_t)guest_mbi->boot_loader_name, "qemu", 4) == 0;
}

bool running_on_qemu(void)
{
    return on_qemu;
}

static void vreport(const char *kind, const char *fmt, va_list ap)
{
    gprintf("%s: %s/", kind, guest_test_name);
    gvprintf(fmt, ap);
}

bool check_true(bool ok, const char *file, int line, const char *expr, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(ok ? "PASS" : "FAIL", fmt, ap);
    va_end(ap);
    if (ok) {
        test_passed++;
        puts("\n");
    } else {
        test_failed++;
        gprintf(" (%s:%d: %s)\n", file, line, expr);
    }
    return ok;
}

bool check_eq(uint64_t a, uint64_t b, const char *file, int line, const char *ea, const char *eb,
              const char *fmt, ...)
{
    bool ok = a == b;
    va_list ap;
    va_start(ap, fmt);
    vreport(ok ? "PASS" : "FAIL", fmt, ap);
    va_end(ap);
    if (ok) {
        test_passed++;
        puts("\n");
    } else {
        test_failed++;
        gprintf(" (%s:%d: %s == %s: 0x%lx != 0x%lx)\n", file, line, ea, eb, a, b);
    }
    return ok;
}

void test_skip(const char *reason, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport("SKIP", fmt, ap);
    va_end(ap);
    gprintf(" (%s)\n", reason);
    test_skipped++;
}

void test_fail_msg(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport("FAIL", fmt, ap);
    va_end(ap);
    puts("\n");
    test_failed++;
}

NORETURN void test_finish(void)
{
    gprintf("%s: %u passed, %u failed, %u skipped\n", guest_test_name, test_passed, test_failed,
            test_skipped);
    guest_exit(test_failed ? 1 : 0);
}

/* Called from boot.S in 64-bit mode. */
void guest_start(uint32_t magic, uint32_t mbi)
{
    guest_mbi =
        magic == MULTIBOOT_BOOTLOADER_MAGIC ? (struct multiboot_info *)(uintptr_t)mbi : NULL;
    detect_qemu();
    /* Start on a fresh line: firmware may have left the cursor mid-line. */
    gprintf("\n== guest test %s ==\n", guest_test_name);
    /* Mask both legacy PICs: firmware (SeaBIOS under QEMU) leaves the timer
     * unmasked on vector 8, which would look like a #DF once a test sets IF. */
    outb(0x21, 0xff);
    outb(0xa1, 0xff);
    desc_init();
    idt_init();
    paging_init();
    if (magic != MULTIBOOT_BOOTLOADER_MAGIC) {
        test_fail_msg("boot/multiboot_magic (EAX=0x%x)", magic);
    }
    guest_main(guest_mbi);
    test_finish();
}
