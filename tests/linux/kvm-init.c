/* /init of an initramfs for tests/linux-kvm.sh: Debian's Linux runs as L1
 * on nvmx, loads kvm_intel (irqbypass, kvm, kvm-intel from the same
 * kernel package) and runs a real-mode L2 guest through /dev/kvm, as a VMM
 * such as QEMU would: KVM's VMX code (VMXON, VMCS setup, VMLAUNCH/VMRESUME,
 * I/O and HLT exits, EPT) runs unmodified on nvmx's nested VMX. The L2
 * guest writes 0x42 and 0x43 to port 0x10, executes CPUID (KVM handles it),
 * writes 0x99 to unbacked guest memory (KVM_EXIT_MMIO: KVM's EPT12 makes
 * it an EPT misconfiguration that L0 reflects) and halts; the result goes to
 * COM1 and the isa-debug-exit port (0: passed, 3: failed). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* straight to COM1 (iopl(3)): independent of the kernel's console setup */
static void out(const char *s)
{
    for (; *s; s++)
        outb((unsigned char)*s, 0x3f8);
}
#define printf(...)                                                                                \
    do {                                                                                           \
        char b_[256];                                                                              \
        snprintf(b_, sizeof(b_), __VA_ARGS__);                                                     \
        out(b_);                                                                                   \
    } while (0)
static void finish(int code)
{
    iopl(3);
    outb((unsigned char)code, 0xf4);
    for (;;)
        pause();
}
static int load(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        printf("open %s failed\n", path);
        return -1;
    }
    long r = syscall(SYS_finit_module, fd, "", 0);
    printf("finit_module(%s) = %ld\n", path, r);
    close(fd);
    return (int)r;
}
int main(void)
{
    iopl(3);
    out("kvmtest: init started\n");
    if (load("/irqbypass.ko") || load("/kvm.ko") || load("/kvm-intel.ko")) {
        out("kvmtest: FAIL module load\n");
        finish(3);
    }
    mknod("/dev/kvm", S_IFCHR | 0600, makedev(10, 232));
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0) {
        out("kvmtest: FAIL open /dev/kvm\n");
        finish(3);
    }
    printf("KVM API version %d\n", ioctl(kvm, KVM_GET_API_VERSION, 0));
    int vm = ioctl(kvm, KVM_CREATE_VM, 0);
    printf("vm fd %d\n", vm);
    unsigned char *mem =
        mmap(NULL, 0x10000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    /* mov $0x42,%al; out %al,$0x10; mov $0x43,%al; out %al,$0x10; hlt */
    const unsigned char code[] = {
        0xb0, 0x42, 0xe6, 0x10,       /* mov $0x42, %al; out %al, $0x10 */
        0xb0, 0x43, 0xe6, 0x10,       /* mov $0x43, %al; out %al, $0x10 */
        0x66, 0x31, 0xc0, 0x0f, 0xa2, /* xor %eax, %eax; cpuid (KVM's own) */
        0xbb, 0x00, 0x20, 0x8e, 0xdb, /* mov $0x2000, %bx; mov %bx, %ds */
        0xc6, 0x06, 0x00, 0x00, 0x99, /* movb $0x99, (0): MMIO at 0x20000 */
        0xf4};                        /* hlt */
    memcpy(mem + 0x1000, code, sizeof(code));
    struct kvm_userspace_memory_region reg = {.slot = 0,
                                              .guest_phys_addr = 0,
                                              .memory_size = 0x10000,
                                              .userspace_addr = (unsigned long)mem};
    printf("set region %d\n", ioctl(vm, KVM_SET_USER_MEMORY_REGION, &reg));
    int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
    printf("vcpu fd %d\n", vcpu);
    int sz = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    struct kvm_run *run = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    struct kvm_sregs sregs;
    ioctl(vcpu, KVM_GET_SREGS, &sregs);
    sregs.cs.base = 0;
    sregs.cs.selector = 0;
    ioctl(vcpu, KVM_SET_SREGS, &sregs);
    struct kvm_regs regs = {.rip = 0x1000, .rflags = 2};
    ioctl(vcpu, KVM_SET_REGS, &regs);
    int outs = 0, mmio = 0, ok = 1;
    for (int i = 0; i < 10; i++) {
        int r = ioctl(vcpu, KVM_RUN, 0);
        if (r < 0) {
            printf("KVM_RUN failed %d\n", r);
            ok = 0;
            break;
        }
        printf("exit_reason %d\n", run->exit_reason);
        if (run->exit_reason == KVM_EXIT_IO) {
            unsigned char v = *((unsigned char *)run + run->io.data_offset);
            printf("L2 out port %#x value %#x\n", run->io.port, v);
            if (v != 0x42 + outs)
                ok = 0;
            outs++;
            continue;
        }
        if (run->exit_reason == KVM_EXIT_MMIO) {
            printf("L2 MMIO %s %#llx len %u data %#x\n", run->mmio.is_write ? "write" : "read",
                   (unsigned long long)run->mmio.phys_addr, run->mmio.len, run->mmio.data[0]);
            if (!run->mmio.is_write || run->mmio.phys_addr != 0x20000 || run->mmio.data[0] != 0x99)
                ok = 0;
            mmio++;
            continue;
        }
        if (run->exit_reason == KVM_EXIT_HLT)
            break;
        if (run->exit_reason == KVM_EXIT_FAIL_ENTRY)
            printf("fail entry reason %#llx\n",
                   (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
        if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR)
            printf("internal error suberror %u\n", run->internal.suberror);
        ok = 0;
        break;
    }
    if (ok && outs == 2 && mmio == 1) {
        out("kvmtest: PASS L2 guest ran under kvm_intel in L1\n");
        finish(0);
    }
    out("kvmtest: FAIL\n");
    finish(3);
}
