#!/usr/bin/env python3
"""Writes docs/VMX-COVERAGE.md from shared/facts and the status table below.
The status table is hand-maintained: update it with the code."""
import csv, os, sys

facts = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '../../shared/facts')
out = os.path.join(os.path.dirname(__file__), '../docs/VMX-COVERAGE.md')

def rows(n):
    return list(csv.DictReader(open(os.path.join(facts, n)), delimiter='\t'))

U = 'tests/unit/'
# name -> (CPU status, L1 status, tested by)
exits = {
    'EXCEPTION_OR_NMI': ('yes: exception bitmap, #PF mask/match, NMI exiting', 'no', U + 'test_vmx_exits.c'),
    'EXTERNAL_INTERRUPT': ('yes (pin control, acknowledge on exit; no interrupt source until issue 3)', 'no', U + 'test_vmx_exits.c'),
    'TRIPLE_FAULT': ('yes', 'no', 'tests/cli-test.sh (triple_fault)'),
    'INIT_SIGNAL': ('yes (INIT always exits; no INIT source until issue 3)', 'no', U + 'test_vmx_exits.c'),
    'SIPI': ('yes (in wait-for-SIPI, vector in the qualification)', 'no', U + 'test_vmx_exits.c'),
    'INTERRUPT_WINDOW': ('yes', 'no', '-'),
    'NMI_WINDOW': ('yes (virtual NMIs)', 'no', U + 'test_vmx_exits.c'),
    'TASK_SWITCH': ('yes (task gates, far JMP/CALL to a TSS, IRET with NT)', 'no', '-'),
    'CPUID': ('yes (unconditional)', 'no', 'every guest test (CPUID via L0)'),
    'GETSEC': ('yes (#UD unless CR4.SMXE)', 'no', 'tests/guest/ud.c (#UD)'),
    'HLT': ('yes (HLT exiting)', 'no', U + 'test_cpu_core.c'),
    'INVD': ('yes (unconditional)', 'no', '-'),
    'INVLPG': ('yes (INVLPG exiting)', 'no', 'tests/guest/vmxctl.c'),
    'RDPMC': ('yes (RDPMC exiting)', 'no', '-'),
    'RDTSC': ('yes (RDTSC exiting)', 'no', 'tests/guest/vmxctl.c'),
    'VMCALL': ('yes (unconditional)', 'no (#UD injected)', '-'),
    'VMCLEAR': ('yes (unconditional with CR4.VMXE)', 'no (#UD injected)', '-'),
    'VMLAUNCH': ('yes', 'no (#UD injected)', '-'),
    'VMPTRLD': ('yes', 'no (#UD injected)', '-'),
    'VMPTRST': ('yes', 'no (#UD injected)', '-'),
    'VMREAD': ('yes (unconditional)', 'no (#UD injected)', '-'),
    'VMRESUME': ('yes', 'no (#UD injected)', '-'),
    'VMWRITE': ('yes (unconditional)', 'no (#UD injected)', '-'),
    'INVEPT': ('yes (unconditional)', 'no (#UD injected)', '-'),
    'INVVPID': ('yes (unconditional)', 'no (#UD injected)', '-'),
    'VMXOFF': ('yes', 'no (#UD injected)', '-'),
    'VMXON': ('yes', 'no (#UD injected)', '-'),
    'CR_ACCESS': ('yes: CR0/CR4 masks and shadows, CR3/CR8 load/store, CLTS, LMSW', 'no', U + 'test_vmx_exits.c'),
    'DR_ACCESS': ('yes (MOV-DR exiting)', 'no', 'tests/guest/vmxctl.c'),
    'IO_INSTRUCTION': ('yes: unconditional I/O exiting, I/O bitmaps, string I/O info', 'no', U + 'test_cpu_core.c; every guest test'),
    'RDMSR': ('yes: MSR bitmaps', 'no', U + 'test_vmx_exits.c'),
    'WRMSR': ('yes: MSR bitmaps', 'no', U + 'test_vmx_exits.c'),
    'VM_ENTRY_FAILURE_INVALID_GUEST_STATE': ('yes (subset of SDM 26.3.1)', 'no', U + 'test_vmx_exits.c'),
    'VM_ENTRY_FAILURE_MSR_LOADING': ('yes (1-based index of the failing entry)', 'no', U + 'test_vmx_exits.c'),
    'PAUSE': ('yes (PAUSE exiting, PAUSE-loop exiting)', 'no', 'tests/guest/vmxctl.c'),
    'MONITOR_TRAP_FLAG': ('yes', 'no', U + 'test_vmx_exits.c'),
 'APIC_ACCESS': ('yes (types 0-3 linear read/write/fetch/event delivery, 10/15 guest-physical page walks with EPT; with a TPR shadow, data accesses to virtualized registers do not exit)', 'no', U + 'test_vmx_exits.c, test_apicv.c'),
    'TPR_BELOW_THRESHOLD': ('yes (MOV to CR8, WRMSR 808H, APIC-access page TPR writes; at VM entry)', 'no', U + 'test_vmx_exits.c, test_apicv.c'),
    'VIRTUALIZED_EOI': ('yes (EOI virtualization with the EOI-exit bitmap; trap-like, vector in the qualification)', 'no', U + 'test_apicv.c'),
    'APIC_WRITE': ('yes (APIC-write emulation of APIC-access page writes, non-self-IPI ICR writes, x2APIC SELF IPI below 16; trap-like, offset in the qualification)', 'no', U + 'test_apicv.c'),
    'EPT_VIOLATION': ('yes: page walks and final accesses, qualification bits 0-8', 'no', U + 'test_ept01.c, test_ept.c'),
    'EPT_MISCONFIG': ('yes', 'no', U + 'test_ept.c'),
    'RDTSCP': ('yes', 'no', '-'),
    'VMX_PREEMPTION_TIMER_EXPIRED': ('yes (counts retired instructions)', 'no', U + 'test_cpu_core.c; L0 slices'),
    'WBINVD': ('yes (WBINVD exiting)', 'no', 'tests/guest/vmxctl.c'),
    'GDTR_IDTR_ACCESS': ('yes (descriptor-table exiting)', 'no', U + 'test_vmx_exits.c'),
    'LDTR_TR_ACCESS': ('yes (descriptor-table exiting)', 'no', '-'),
    'XSETBV': ('yes (unconditional)', 'no', 'tests/guest/sse.c (XSETBV via L0)'),
    'RDRAND': ('yes (RDRAND exiting)', 'no', 'tests/guest/vmxctl.c'),
    'RDSEED': ('yes (RDSEED exiting)', 'no', '-'),
    'XSAVES': ('yes (XSS-exiting bitmap AND IA32_XSS AND EDX:EAX; displacement and operand information)', 'no', U + 'test_xsaves.c'),
    'XRSTORS': ('yes (XSS-exiting bitmap AND IA32_XSS AND EDX:EAX; displacement and operand information)', 'no', U + 'test_xsaves.c'),
}
controls = {
    'EXTERNAL_INTERRUPT_EXITING': 'yes', 'NMI_EXITING': 'yes', 'VIRTUAL_NMIS': 'yes', 'NMI_WINDOW_EXITING': 'yes', 'ACKNOWLEDGE_INTERRUPT_ON_EXIT': 'yes', 'ACTIVATE_VMX_PREEMPTION_TIMER': 'yes',
    'INTERRUPT_WINDOW_EXITING': 'yes', 'USE_TSC_OFFSETTING': 'yes', 'HLT_EXITING': 'yes',
    'INVLPG_EXITING': 'yes', 'RDPMC_EXITING': 'yes', 'RDTSC_EXITING': 'yes', 'CR3_LOAD_EXITING': 'yes',
    'CR3_STORE_EXITING': 'yes', 'CR8_LOAD_EXITING': 'yes', 'CR8_STORE_EXITING': 'yes',
    'MOV_DR_EXITING': 'yes', 'UNCONDITIONAL_IO_EXITING': 'yes', 'USE_IO_BITMAPS': 'yes',
    'USE_MSR_BITMAPS': 'yes', 'PAUSE_EXITING': 'yes', 'ACTIVATE_SECONDARY_CONTROLS': 'yes',
    'MONITOR_TRAP_FLAG': 'yes (also right after an injected event)',
    'USE_TSC_SCALING': 'yes',
    'ENABLE_XSAVES_XRSTORS': 'yes (#UD when 0; XSAVES/XRSTORS in the compacted format with IA32_XSS, whose only supervisor component is PASID state)',
    'VIRTUALIZE_X2APIC_MODE': 'yes (RDMSR/WRMSR 800H-8FFH per the MSR bitmap: TPR; with the other controls the registers below)',
    'APIC_REGISTER_VIRTUALIZATION': 'yes (x2APIC RDMSR and APIC-access page reads of the SDM register lists; writes by APIC-write emulation)',
    'VIRTUAL_INTERRUPT_DELIVERY': 'yes (RVI/SVI, evaluation and delivery, TPR/PPR/EOI/self-IPI virtualization, EOI-exit bitmap)',
    'PROCESS_POSTED_INTERRUPTS': 'yes (notification vector on the INTR line; descriptor must be RAM)', 'PAUSE_LOOP_EXITING': 'yes (TSC = retired instructions)', 'USE_TPR_SHADOW': 'yes (CR8 accesses, x2APIC TPR MSR, APIC-access page TPR)',
    'VIRTUALIZE_APIC_ACCESSES': 'yes (APIC-access exits; with a TPR shadow data accesses virtualized per SDM 30.4)', 'ENABLE_EPT': 'yes (accessed/dirty flags too)', 'ENABLE_VPID': 'yes (untagged TLB, flushed on change)', 'DESCRIPTOR_TABLE_EXITING': 'yes', 'ENABLE_RDTSCP': 'yes', 'WBINVD_EXITING': 'yes',
    'UNRESTRICTED_GUEST': 'partial: the CPU never restricts real mode / paging off',
    'RDRAND_EXITING': 'yes', 'RDSEED_EXITING': 'yes', 'ENABLE_INVPCID': 'yes',
    'SAVE_IA32_PAT': 'yes', 'SAVE_IA32_EFER': 'yes', 'SAVE_VMX_PREEMPTION_TIMER_VALUE': 'yes',
    'IA32E_MODE_GUEST': 'yes', 'LOAD_IA32_PAT': 'yes (entry)', 'LOAD_IA32_EFER': 'yes (entry)',
    'LOAD_DEBUG_CONTROLS': 'yes (DR7, IA32_DEBUGCTL which has no features)',
    'SAVE_DEBUG_CONTROLS': 'yes',
    'SAVE_IA32_PERF_GLOBAL_CTRL': 'yes (before the host value is loaded)',
    'LOAD_IA32_PERF_GLOBAL_CTRL': 'yes (entry: guest field; exit: host field into the processor register; reserved bits checked; MSR 0x38f has the enable bits of 2+3 counters, which never count)',
    'HOST_ADDRESS_SPACE_SIZE': 'n/a: L0 is C code; the host-state area is not loaded',
}
lines = ['# VMX coverage', '',
         'What nvmx implements of Intel VMX, item by item. **CPU**: the emulated processor',
         '(src/cpu/) implements it as hardware does, driven by L0 through a VMCS. **L1**: L0',
         'emulates it for a guest hypervisor (nested VMX, src/vmm/nested/). **tested by**: a',
         'test that fails without it ("-": no dedicated test yet). Nothing is advertised to',
         'a guest that is not implemented: today VMX is not exposed to guests at all',
         '(CPUID.1:ECX.VMX = 0), so every L1 column is "no".', '',
         'Generated by tools/gen_coverage.py from shared/facts and its status table.', '',
         '| item | kind | CPU | L1 | tested by |', '|---|---|---|---|---|']
for ins in ['VMXON', 'VMXOFF', 'VMCLEAR', 'VMPTRLD', 'VMPTRST', 'VMREAD', 'VMWRITE', 'VMLAUNCH', 'VMRESUME',
            'VMCALL', 'VMFUNC', 'INVEPT', 'INVVPID']:
    st = 'unconditional VM exit in non-root operation' if ins != 'VMFUNC' else 'no (#UD)'
    if ins in ('VMLAUNCH', 'VMRESUME'):
        st += '; L0 itself enters through cpu_vmentry'
    lines.append('| %s | instruction | %s | no | %s |'
                 % (ins, st, U + 'test_vmx_exits.c' if ins in ('VMLAUNCH', 'VMRESUME') else '-'))
for r in rows('exit-reasons.tsv'):
    n = r['name']
    if n.startswith('RESERVED'):
        continue
    cpu, l1, t = exits.get(n, ('no', 'no', '-'))
    lines.append('| exit %s %s | exit reason | %s | %s | %s |' % (r['number'], n, cpu, l1, t))
pref = {'pin-based': 'pin', 'primary-proc': 'primary', 'secondary-proc': 'secondary', 'tertiary-proc': 'tertiary',
        'vm-exit': 'exit', 'vm-exit-secondary': 'exit2', 'vm-entry': 'entry', 'vm-function': 'vmfunc'}
tested = {'HLT_EXITING': U + 'test_cpu_core.c', 'USE_IO_BITMAPS': U + 'test_cpu_core.c',
          'UNCONDITIONAL_IO_EXITING': U + 'test_cpu_core.c', 'USE_MSR_BITMAPS': U + 'test_vmx_exits.c',
          'CR3_LOAD_EXITING': U + 'test_vmx_exits.c', 'ENABLE_EPT': U + 'test_ept01.c',
          'ACTIVATE_VMX_PREEMPTION_TIMER': U + 'test_cpu_core.c', 'LOAD_IA32_EFER': U + 'test_vmx_exits.c',
          'IA32E_MODE_GUEST': U + 'test_vmx_exits.c', 'RDTSC_EXITING': 'tests/guest/vmxctl.c',
          'USE_TSC_OFFSETTING': 'tests/guest/vmxctl.c', 'INVLPG_EXITING': 'tests/guest/vmxctl.c',
          'MOV_DR_EXITING': 'tests/guest/vmxctl.c', 'PAUSE_EXITING': 'tests/guest/vmxctl.c',
          'WBINVD_EXITING': 'tests/guest/vmxctl.c', 'RDRAND_EXITING': 'tests/guest/vmxctl.c',
          'DESCRIPTOR_TABLE_EXITING': 'tests/guest/vmxctl.c', 'CR3_STORE_EXITING': '-',
          'MONITOR_TRAP_FLAG': U + 'test_vmx_exits.c; L0 test mode steps with it',
          'VIRTUALIZE_APIC_ACCESSES': U + 'test_vmx_exits.c, test_apicv.c',
          'VIRTUALIZE_X2APIC_MODE': U + 'test_apicv.c', 'ENABLE_XSAVES_XRSTORS': U + 'test_xsaves.c', 'APIC_REGISTER_VIRTUALIZATION': U + 'test_apicv.c',
          'VIRTUAL_INTERRUPT_DELIVERY': U + 'test_apicv.c', 'PROCESS_POSTED_INTERRUPTS': U + 'test_apicv.c',
          'USE_TPR_SHADOW': U + 'test_vmx_exits.c, test_apicv.c',
          'LOAD_IA32_PERF_GLOBAL_CTRL': U + 'test_vmx_exits.c (perf_global_ctrl_load)',
          'SAVE_IA32_PERF_GLOBAL_CTRL': U + 'test_vmx_exits.c (perf_global_ctrl_load)'}
for r in rows('controls.tsv'):
    if 'RESERVED' in r['name']:
        continue
    p = pref.get(r['control_set'])
    if not p:
        continue
    lines.append('| %s.%s (bit %s) | control | %s | no | %s |'
                 % (p, r['name'], r['bit'], controls.get(r['name'], 'no'), tested.get(r['name'], '-')))
for m, st in [('exception bitmap + #PF error-code mask/match', 'yes'), ('CR0/CR4 guest/host masks, read shadows', 'yes'),
              ('CR3-target values', 'yes'), ('VM-entry event injection (all types)', 'yes (no entry checks on the event yet)'),
              ('IDT-vectoring information', 'yes (exits during event delivery)'),
              ('guest interruptibility state (STI/MOV SS/NMI blocking)', 'yes'),
              ('activity states HLT / shutdown / wait-for-SIPI', 'HLT and shutdown; wait-for-SIPI held by L0'),
              ('MSR load/store lists', 'VM-entry MSR-load and VM-exit MSR-store lists; the VM-exit MSR-load count must be 0 (the host is L0 C code)'), ('VM-entry checks on controls/host/guest state', 'yes (a large subset of SDM 26.2-26.3: controls vs capabilities, bitmaps, event injection, host CRs/selectors/bases, guest CRs, EFER, segments, RIP, RFLAGS, activity, interruptibility, link pointer)'),
              ('VPID, INVEPT/INVVPID for L0', 'yes: VPID control accepted; the TLB is untagged and flushed when EPTP or VPID change; cpu_invept/cpu_invvpid flush'),
              ('virtual NMIs, NMI-window exiting', 'yes (virtual-NMI blocking set by NMI delivery, cleared by IRET)'), ('APIC virtualization, posted interrupts', 'yes (SDM ch. 30; guest-physical accesses to the APIC-access page are page-walk accesses through EPT: APIC-access exits of type 10/15)'),
              ('IA32_VMX_* capability MSRs', 'no (VMX not exposed)'), ('IA32_FEATURE_CONTROL', 'no'),
              ('CPUID.1:ECX.VMX', 'no (0)')]:
    lines.append('| %s | capability | %s | no | - |' % (m, st))
open(out, 'w').write('\n'.join(lines) + '\n')
