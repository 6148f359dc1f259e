/* 64-bit IDT (SDM 6.14), per-vector C handlers and exception recovery. */
#include "guest.h"

uint64_t idt[512] ALIGNED(16);
static handler_t handlers[256];

volatile struct exc_info exc_last = {.vector = -1};
struct ctx exc_ctx;
volatile int exc_armed;

extern char isr_stubs[];
extern char ctx_restore_stub[];

uint64_t isr_stub_addr(int vec)
{
    return (uint64_t)isr_stubs + 16 * (uint64_t)vec;
}

void idt_set_raw(int vec, uint64_t lo, uint64_t hi)
{
    idt[2 * vec] = lo;
    idt[2 * vec + 1] = hi;
}

void idt_get_raw(int vec, uint64_t *lo, uint64_t *hi)
{
    *lo = idt[2 * vec];
    *hi = idt[2 * vec + 1];
}

void idt_set_gate(int vec, int type, int dpl, int ist)
{
    /* SDM figure 6-8: offset 15:0, selector, IST, type, DPL, P, offset 63:16. */
    uint64_t off = isr_stub_addr(vec);
    uint64_t lo = (off & 0xffff) | ((uint64_t)SEL_KCODE64 << 16) | ((uint64_t)(ist & 7) << 32) |
                  ((uint64_t)(type & 0xf) << 40) | ((uint64_t)(dpl & 3) << 45) | (1ull << 47) |
                  ((off >> 16) & 0xffff) << 48;
    idt_set_raw(vec, lo, off >> 32);
}

void set_handler(int vec, handler_t h)
{
    handlers[vec & 255] = h;
}

void exc_arm(void)
{
    exc_last.vector = -1;
    exc_last.count = 0;
    exc_armed = 1;
}

void ctx_resume_frame(struct frame *f, struct ctx *c, uint64_t value)
{
    /* IRETQ to ctx_restore_stub at CPL0 in 64-bit mode, whatever mode or
     * privilege level the interrupted code ran at. */
    f->rip = (uint64_t)ctx_restore_stub;
    f->cs = SEL_KCODE64;
    f->ss = SEL_KDATA;
    f->rsp = c->rsp - 64; /* any valid stack below the saved frame */
    f->rflags = c->rflags;
    f->rdi = (uint64_t)c;
    c->value = value;
}

bool exc_recover(struct frame *f)
{
    if (!exc_armed)
        return false;
    exc_armed = 0;
    exc_last.vector = (int)f->vector;
    exc_last.error_code = f->error_code;
    exc_last.rip = f->rip;
    exc_last.cs = f->cs;
    exc_last.rflags = f->rflags;
    exc_last.rsp = f->rsp;
    exc_last.cr2 = read_cr2();
    exc_last.count++;
    ctx_resume_frame(f, &exc_ctx, 1);
    return true;
}

bool check_exc(int got, int vec, int64_t err, const char *file, int line, const char *fmt, ...)
{
    bool ok = got == vec && (got < 0 || err < 0 || (uint64_t)err == exc_last.error_code);
    va_list ap;
    va_start(ap, fmt);
    gprintf("%s: %s/", ok ? "PASS" : "FAIL", guest_test_name);
    gvprintf(fmt, ap);
    va_end(ap);
    if (ok) {
        test_passed++;
        puts("\n");
    } else {
        test_failed++;
        gprintf(" (%s:%d: expected vector %d error 0x%lx, got vector %d error 0x%lx rip 0x%lx)\n",
                file, line, vec, (uint64_t)err, got, got >= 0 ? exc_last.error_code : 0,
                got >= 0 ? exc_last.rip : 0);
    }
    return ok;
}

void isr_dispatch(struct frame *f)
{
    handler_t h = handlers[f->vector & 255];
    if (h) {
        h(f);
        return;
    }
    if (exc_recover(f))
        return;
    test_fail_msg("unexpected_exception vector %lu error 0x%lx rip 0x%lx cs 0x%lx rsp 0x%lx cr2 "
                  "0x%lx",
                  f->vector, f->error_code, f->rip, f->cs, f->rsp, read_cr2());
    test_finish();
}

extern struct ctx *ring3_cur;

static void ring3_exit_handler(struct frame *f)
{
    ctx_resume_frame(f, ring3_cur, f->rdi);
}

void idt_init(void)
{
    for (int v = 0; v < 256; v++)
        idt_set_gate(v, 0xE, 0, 0);
    idt_set_gate(RING3_EXIT_VECTOR, 0xE, 3, 0);
    set_handler(RING3_EXIT_VECTOR, ring3_exit_handler);
    /* #DF on its own stack so that stack faults can escalate cleanly. */
    idt_set_gate(DF_VECTOR, 0xE, 0, 1);
    struct __attribute__((packed)) {
        uint16_t limit;
        uint64_t base;
    } p = {sizeof(idt) - 1, (uint64_t)idt};
    __asm__ volatile("lidt %0" ::"m"(p));
}
