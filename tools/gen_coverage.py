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

# ---- nested VMX (src/vmm/nested/): what L0 emulates for an L1 hypervisor ----
NG = 'tests/guest/'
nested_insn = {
    'VMXON': 'yes: #UD/#GP checks, CR0/CR4 fixed bits, IA32_FEATURE_CONTROL, alignment/width/revision (VMfailInvalid), error 15',
    'VMXOFF': 'yes (#UD outside VMX operation, #GP at CPL>0; the cached vmcs12 is written back)',
    'VMCLEAR': 'yes (errors 2, 3; launch state cleared in memory)',
    'VMPTRLD': 'yes (errors 9, 10, 11; region outside L1 RAM = error 9)',
    'VMPTRST': 'yes (memory operand through L1 paging)',
    'VMREAD': 'yes (register/memory operands, widths, "high" accesses, error 12)',
    'VMWRITE': 'yes (errors 12, 13: exit-information fields are read-only)',
    'VMLAUNCH': 'yes (errors 4, 5, 26, 7, 8; entry failures 33, 34)',
    'VMRESUME': 'yes (as VMLAUNCH)',
    'VMCALL': 'yes (in VMX root: VMfail error 1; in L2: reflected)',
    'VMFUNC': 'no (not offered: IA32_VMX_VMFUNC is #GP)',
    'INVEPT': 'yes (single/all-context; error 28; drops EPT02)',
    'INVVPID': 'yes (all four types; error 28 for bad type/VPID 0/non-canonical)',
}
nested_insn_tests = {'VMLAUNCH': NG + 'nested_basic.c, nested_exits.c', 'VMRESUME': NG + 'nested_basic.c, nested_exits.c'}
# exit reason -> (L1 column, test)
nested_exits = {
    'EXCEPTION_OR_NMI': ('reflected by the exception bitmap (+ #PF mask/match) and NMI exiting; an NMI for L1 during L2 is a nested exit', NG + 'nested_exits.c, nested_events.c'),
    'EXTERNAL_INTERRUPT': ('reflected with external-interrupt exiting; interrupts for L1 during L2 become nested exits (ack on exit gives the vector)', NG + 'nested_events.c'),
    'TRIPLE_FAULT': ('always reflected', '-'), 'INIT_SIGNAL': ('always reflected', '-'), 'SIPI': ('always reflected', '-'),
    'INTERRUPT_WINDOW': ('reflected with vmcs12 interrupt-window exiting (L0 merges its own)', NG + 'nested_events.c'),
    'NMI_WINDOW': ('reflected with vmcs12 NMI-window exiting', '-'),
    'TASK_SWITCH': ('always reflected', '-'), 'CPUID': ('always reflected', NG + 'nested_basic.c'),
    'GETSEC': ('always reflected', '-'), 'HLT': ('reflected with HLT exiting, else L0 halts L2', NG + 'nested_exits.c'),
    'INVD': ('always reflected', '-'), 'INVLPG': ('reflected with INVLPG exiting', NG + 'nested_exits.c'),
    'RDPMC': ('reflected with RDPMC exiting', '-'), 'RDTSC': ('reflected with RDTSC exiting (TSC offsets add up)', NG + 'nested_exits.c'),
    'CR_ACCESS': ('reflected per vmcs12 masks/shadows, CR3 targets, CR3/CR8 exiting, CLTS, LMSW', NG + 'nested_exits.c'),
    'DR_ACCESS': ('reflected with MOV-DR exiting', NG + 'nested_exits.c'),
    'IO_INSTRUCTION': ('reflected by unconditional I/O exiting or L1 I/O bitmaps; else L0 devices', NG + 'nested_exits.c'),
    'RDMSR': ('reflected by L1 MSR bitmap (merged with L0 in vmcs02) or without bitmaps', NG + 'nested_exits.c'),
    'WRMSR': ('as RDMSR', '-'),
    'VM_ENTRY_FAILURE_INVALID_GUEST_STATE': ('yes: vmcs12 guest-state checks, L1 resumes at HOST_RIP', NG + 'nested_exits.c'),
    'VM_ENTRY_FAILURE_MSR_LOADING': ('yes: vmcs12 MSR-load list, 1-based index', NG + 'nested_exits.c, nested_hostile.c'),
    'MWAIT': ('reflected with MWAIT exiting', '-'), 'MONITOR': ('reflected with MONITOR exiting', '-'),
    'MONITOR_TRAP_FLAG': ('reflected with vmcs12 MTF', '-'),
    'PAUSE': ('reflected with PAUSE exiting / PAUSE-loop exiting', '-'),
    'TPR_BELOW_THRESHOLD': ('reflected with TPR shadow', '-'),
    'APIC_ACCESS': ('reflected with virtualize APIC accesses', '-'),
    'EPT_VIOLATION': ('EPT12 walked by L0: reflected with EPT12 permissions in the qualification, or mapped in EPT02, or L1 MMIO', NG + 'nested_exits.c, nested_hostile.c'),
    'EPT_MISCONFIG': ('reflected when EPT12 is misconfigured (tables outside L1 RAM too)', NG + 'nested_hostile.c'),
    'RDTSCP': ('reflected with RDTSC exiting', '-'),
    'VMX_PREEMPTION_TIMER_EXPIRED': ('vmcs12 timer in L2 retired instructions, saved on exit if asked; L0 slices are not reflected', NG + 'nested_exits.c'),
    'WBINVD': ('reflected with WBINVD exiting', '-'),
    'GDTR_IDTR_ACCESS': ('reflected with descriptor-table exiting', '-'), 'LDTR_TR_ACCESS': ('reflected with descriptor-table exiting', '-'),
    'XSETBV': ('always reflected', '-'), 'RDRAND': ('reflected with RDRAND exiting', '-'), 'RDSEED': ('reflected with RDSEED exiting', '-'),
    'INVPCID': ('reflected with INVLPG exiting', NG + 'nested_reflect.c'),
    'VIRTUALIZED_EOI': ('reflected (always L1\'s: EOI-exit bitmap of vmcs12)', NG + 'nested_apicv.c'),
    'APIC_WRITE': ('reflected (always L1\'s)', '-'),
}
for n, t in [('MONITOR_TRAP_FLAG', 'nested_reflect.c'), ('PAUSE', 'nested_reflect.c'), ('TPR_BELOW_THRESHOLD', 'nested_reflect.c'),
             ('APIC_ACCESS', 'nested_reflect.c'), ('RDTSCP', 'nested_reflect.c'), ('WBINVD', 'nested_reflect.c'),
             ('GDTR_IDTR_ACCESS', 'nested_reflect.c'), ('LDTR_TR_ACCESS', 'nested_reflect.c'), ('XSETBV', 'nested_reflect.c'),
             ('RDRAND', 'nested_reflect.c'), ('RDSEED', 'nested_reflect.c'), ('INVD', 'nested_reflect.c'),
             ('RDPMC', 'nested_reflect.c'), ('TRIPLE_FAULT', 'nested_reflect.c'), ('WRMSR', 'nested_reflect.c')]:
    nested_exits[n] = (nested_exits[n][0], NG + t)
for n in ('VMCALL', 'VMCLEAR', 'VMLAUNCH', 'VMPTRLD', 'VMPTRST', 'VMREAD', 'VMRESUME', 'VMWRITE', 'VMXOFF', 'VMXON', 'INVEPT', 'INVVPID'):
    nested_exits[n] = ('always reflected (L2 executing it: L1 emulates it, e.g. for L3)', NG + 'nested_basic.c' if n == 'VMCALL' else '-')
# controls offered to L1 (src/vmm/nested/caps.c)
nested_controls = {n: 'yes' for n in [
    'EXTERNAL_INTERRUPT_EXITING', 'NMI_EXITING', 'VIRTUAL_NMIS', 'ACTIVATE_VMX_PREEMPTION_TIMER',
    'INTERRUPT_WINDOW_EXITING', 'USE_TSC_OFFSETTING', 'HLT_EXITING', 'INVLPG_EXITING', 'MWAIT_EXITING', 'RDPMC_EXITING',
    'RDTSC_EXITING', 'CR3_LOAD_EXITING', 'CR3_STORE_EXITING', 'CR8_LOAD_EXITING', 'CR8_STORE_EXITING',
    'USE_TPR_SHADOW', 'NMI_WINDOW_EXITING', 'MOV_DR_EXITING', 'UNCONDITIONAL_IO_EXITING', 'USE_IO_BITMAPS',
    'MONITOR_TRAP_FLAG', 'USE_MSR_BITMAPS', 'MONITOR_EXITING', 'PAUSE_EXITING', 'ACTIVATE_SECONDARY_CONTROLS',
    'VIRTUALIZE_APIC_ACCESSES', 'ENABLE_EPT', 'DESCRIPTOR_TABLE_EXITING', 'ENABLE_RDTSCP', 'ENABLE_VPID',
    'WBINVD_EXITING', 'UNRESTRICTED_GUEST', 'PAUSE_LOOP_EXITING', 'RDRAND_EXITING', 'ENABLE_INVPCID', 'RDSEED_EXITING',
    'SAVE_DEBUG_CONTROLS', 'HOST_ADDRESS_SPACE_SIZE', 'ACKNOWLEDGE_INTERRUPT_ON_EXIT', 'SAVE_IA32_PAT', 'LOAD_IA32_PAT',
    'SAVE_IA32_EFER', 'LOAD_IA32_EFER', 'SAVE_VMX_PREEMPTION_TIMER_VALUE', 'LOAD_DEBUG_CONTROLS', 'IA32E_MODE_GUEST']}
for n in ('VIRTUALIZE_X2APIC_MODE', 'APIC_REGISTER_VIRTUALIZATION', 'VIRTUAL_INTERRUPT_DELIVERY'):
    nested_controls[n] = 'yes (run by the hardware in vmcs02; x2APIC MSRs L1 passes through are not intercepted by L0)'
nested_controls['USE_TSC_SCALING'] = 'yes (L0 offset scaled by L1 multiplier)'
nested_controls['ENABLE_EPT'] = 'yes (shadow EPT02, lazily built; no A/D flags for L1)'
nested_controls['ENABLE_VPID'] = 'yes (one VPID02; flushed on every switch)'
nested_controls['USE_MSR_BITMAPS'] = 'yes (merged with L0 bitmap in vmcs02)'
nested_controls['USE_IO_BITMAPS'] = 'yes (read by L0 on each I/O exit; vmcs02 exits on all I/O)'
nested_controls['ACTIVATE_VMX_PREEMPTION_TIMER'] = 'yes (deadline in retired instructions; shares the hardware timer with L0 slices)'
nested_controls['HLT_EXITING'] = 'yes (vmcs02 always exits on HLT; reflected only if vmcs12 asks)'
nested_control_tests = {
    'EXTERNAL_INTERRUPT_EXITING': NG + 'nested_events.c', 'NMI_EXITING': NG + 'nested_events.c',
    'ACKNOWLEDGE_INTERRUPT_ON_EXIT': NG + 'nested_events.c', 'INTERRUPT_WINDOW_EXITING': NG + 'nested_events.c',
    'ACTIVATE_VMX_PREEMPTION_TIMER': NG + 'nested_exits.c', 'SAVE_VMX_PREEMPTION_TIMER_VALUE': NG + 'nested_exits.c',
    'HLT_EXITING': NG + 'nested_exits.c', 'RDTSC_EXITING': NG + 'nested_exits.c', 'INVLPG_EXITING': NG + 'nested_exits.c',
    'CR3_LOAD_EXITING': NG + 'nested_exits.c', 'MOV_DR_EXITING': NG + 'nested_exits.c',
    'UNCONDITIONAL_IO_EXITING': NG + 'nested_exits.c', 'USE_IO_BITMAPS': NG + 'nested_exits.c, nested_hostile.c',
    'USE_MSR_BITMAPS': NG + 'nested_exits.c, nested_hostile.c', 'ENABLE_EPT': NG + 'nested_exits.c, nested_hostile.c',
    'USE_TPR_SHADOW': NG + 'nested_hostile.c (virtual-APIC page checks), nested_reflect.c, nested_apicv.c',
    'VIRTUALIZE_X2APIC_MODE': NG + 'nested_apicv.c', 'APIC_REGISTER_VIRTUALIZATION': NG + 'nested_apicv.c',
    'VIRTUAL_INTERRUPT_DELIVERY': NG + 'nested_apicv.c',
    'PAUSE_EXITING': NG + 'nested_reflect.c', 'WBINVD_EXITING': NG + 'nested_reflect.c',
    'DESCRIPTOR_TABLE_EXITING': NG + 'nested_reflect.c', 'RDRAND_EXITING': NG + 'nested_reflect.c',
    'RDSEED_EXITING': NG + 'nested_reflect.c', 'ENABLE_RDTSCP': NG + 'nested_reflect.c',
    'ENABLE_INVPCID': NG + 'nested_reflect.c', 'RDPMC_EXITING': NG + 'nested_reflect.c',
    'CR8_LOAD_EXITING': NG + 'nested_reflect.c', 'CR8_STORE_EXITING': NG + 'nested_reflect.c',
    'CR3_STORE_EXITING': NG + 'nested_reflect.c', 'MONITOR_TRAP_FLAG': NG + 'nested_reflect.c',
    'VIRTUALIZE_APIC_ACCESSES': NG + 'nested_reflect.c',
    'VIRTUAL_NMIS': NG + 'nested_ctls.c', 'NMI_WINDOW_EXITING': NG + 'nested_ctls.c',
    'ACTIVATE_SECONDARY_CONTROLS': NG + 'nested_exits.c, nested_ctls.c', 'ENABLE_VPID': NG + 'nested_l2.c',
    'UNRESTRICTED_GUEST': NG + 'nested_ctls.c (L2 in real mode)', 'PAUSE_LOOP_EXITING': NG + 'nested_ctls.c',
    'USE_TSC_SCALING': NG + 'nested_ctls.c', 'SAVE_DEBUG_CONTROLS': NG + 'nested_ctls.c',
    'LOAD_DEBUG_CONTROLS': NG + 'nested_ctls.c', 'HOST_ADDRESS_SPACE_SIZE': NG + 'nested_ctls.c (host state)',
    'SAVE_IA32_PAT': NG + 'nested_ctls.c', 'LOAD_IA32_PAT': NG + 'nested_ctls.c',
    'SAVE_IA32_EFER': NG + 'nested_ctls.c', 'LOAD_IA32_EFER': NG + 'nested_ctls.c',
    'IA32E_MODE_GUEST': NG + 'every nested test (64-bit L2), nested_ctls.c (real-mode L2)',
}
nested_caps_rows = {
    'IA32_VMX_* capability MSRs': ('yes (0x480-0x490, TRUE and non-TRUE; VMFUNC #GP)', 'tests/unit/test_nested.c, ' + NG + 'nested_basic.c'),
    'IA32_FEATURE_CONTROL': ('yes (locked, VMXON outside SMX enabled)', NG + 'nested_basic.c'),
    'CPUID.1:ECX.VMX': ('yes (-cpu ...,-vmx hides VMX)', NG + 'nested_basic.c, novmx.c'),
    'VM-entry event injection (all types)': ('yes (vmcs12 injection reaches L2)', NG + 'nested_l2.c (every type), nested_exits.c'),
    'IDT-vectoring information': ('yes (BRIEF decision 4: injected events go to vmcs12)', NG + 'nested_exits.c'),
    'MSR load/store lists': ('yes (entry load, exit store, exit load; VMX abort on exit failures)', NG + 'nested_exits.c'),
    'VM-entry checks on controls/host/guest state': ('yes (the CPU checks run on vmcs12 against the L1 capabilities and L1 IA-32e mode; a host state the processor cannot run is a VMX abort)', NG + 'nested_entry.c (37 rules), nested_exits.c'),
    'VPID, INVEPT/INVVPID for L0': ('yes (L1 INVEPT/INVVPID emulated; nested VPID)', NG + 'nested_insn.c, nested_l2.c'),
    'exception bitmap + #PF error-code mask/match': ('yes', NG + 'nested_exits.c'),
    'CR0/CR4 guest/host masks, read shadows': ('yes (merged with L0 CR4.VMXE ownership)', NG + 'nested_exits.c'),
    'CR3-target values': ('yes', NG + 'nested_exits.c'),
}

lines = ['# VMX coverage', '',
         'What nvmx implements of Intel VMX, item by item. **CPU**: the emulated processor',
         '(src/cpu/) implements it as hardware does, driven by L0 through a VMCS. **L1**: L0',
         'emulates it for a guest hypervisor (nested VMX, src/vmm/nested/). **tested by**: a',
         'test that fails without it ("-": no dedicated test yet). Nothing is advertised to',
         'a guest that is not implemented: the L1 column says what L1 is offered',
         '(src/vmm/nested/caps.c) and how L0 handles it.', '',
         'Generated by tools/gen_coverage.py from shared/facts and its status table.', '',
         '| item | kind | CPU | L1 | tested by |', '|---|---|---|---|---|']
for ins in ['VMXON', 'VMXOFF', 'VMCLEAR', 'VMPTRLD', 'VMPTRST', 'VMREAD', 'VMWRITE', 'VMLAUNCH', 'VMRESUME',
            'VMCALL', 'VMFUNC', 'INVEPT', 'INVVPID']:
    st = 'unconditional VM exit in non-root operation' if ins != 'VMFUNC' else 'no (#UD)'
    if ins in ('VMLAUNCH', 'VMRESUME'):
        st += '; L0 itself enters through cpu_vmentry'
    t = U + 'test_vmx_exits.c' if ins in ('VMLAUNCH', 'VMRESUME') else '-'
    if ins != 'VMFUNC':
        t = (t + '; ' if t != '-' else '') + nested_insn_tests.get(ins, NG + 'nested_insn.c')
    lines.append('| %s | instruction | %s | %s | %s |' % (ins, st, nested_insn[ins], t))
for r in rows('exit-reasons.tsv'):
    n = r['name']
    if n.startswith('RESERVED'):
        continue
    cpu, l1, t = exits.get(n, ('no', 'no', '-'))
    if n in nested_exits:
        l1, nt = nested_exits[n]
        if nt != '-':
            t = nt if t == '-' else t + '; ' + nt
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
    t = tested.get(r['name'], '-')
    nt = nested_control_tests.get(r['name'])
    if nt:
        t = nt if t == '-' else t + '; ' + nt
    lines.append('| %s.%s (bit %s) | control | %s | %s | %s |'
                 % (p, r['name'], r['bit'], controls.get(r['name'], 'no'),
                    nested_controls.get(r['name'], 'no (not offered)'), t))
for m, st in [('exception bitmap + #PF error-code mask/match', 'yes'), ('CR0/CR4 guest/host masks, read shadows', 'yes'),
              ('CR3-target values', 'yes'), ('VM-entry event injection (all types)', 'yes (no entry checks on the event yet)'),
              ('IDT-vectoring information', 'yes (exits during event delivery)'),
              ('guest interruptibility state (STI/MOV SS/NMI blocking)', 'yes'),
              ('activity states HLT / shutdown / wait-for-SIPI', 'HLT and shutdown; wait-for-SIPI held by L0'),
              ('MSR load/store lists', 'VM-entry MSR-load and VM-exit MSR-store lists; the VM-exit MSR-load count must be 0 (the host is L0 C code)'), ('VM-entry checks on controls/host/guest state', 'yes (a large subset of SDM 26.2-26.3: controls vs capabilities, bitmaps, event injection, host CRs/selectors/bases, guest CRs, EFER, segments, RIP, RFLAGS, activity, interruptibility, link pointer)'),
              ('VPID, INVEPT/INVVPID for L0', 'yes: VPID control accepted; the TLB is untagged and flushed when EPTP or VPID change; cpu_invept/cpu_invvpid flush'),
              ('virtual NMIs, NMI-window exiting', 'yes (virtual-NMI blocking set by NMI delivery, cleared by IRET)'), ('APIC virtualization, posted interrupts', 'yes (SDM ch. 30; guest-physical APIC-access page accesses, e.g. by page walks, are page-walk accesses through EPT: APIC-access exits of type 10/15)'),
              ('IA32_VMX_* capability MSRs', 'n/a (L0 reads the hardware capabilities directly)'),
              ('IA32_FEATURE_CONTROL', 'n/a'), ('CPUID.1:ECX.VMX', 'n/a')]:
    l1, t = nested_caps_rows.get(m, ('no', '-'))
    lines.append('| %s | capability | %s | %s | %s |' % (m, st, l1, t))
for m, l1, t in [('vmcs12 in L1 memory (fixed layout, cached, written back)', 'yes (src/vmm/nested/vmcs12.c)', 'tests/unit/test_nested.c'),
                 ('two or more L2 guests under one L1', 'yes', NG + 'nested_exits.c'),
                 ('L1 without EPT (L2-physical = L1-physical, EPT02 = EPT01)', 'yes', NG + 'nested_l2.c (L2 with its own page tables), nested_exits.c'),
                 ('L3 (L2 running its own guests)', 'reflected: L2 VMX instructions go to L1; needs an L1 that nests (the test L1 does not)', '-'),
                 ('VMCS shadowing', 'no (not offered)', '-'),
                 ('a hostile L1: regions, bitmaps, lists, EPT12 outside L1 RAM; randomized VMCS contents', 'yes (architectural outcome, never a host access outside guest RAM)', NG + 'nested_hostile.c, nested_fuzz.c'),
                 ('snapshot / migration of the nested state (NEST section), also while L2 runs', 'yes', 'tests/migrate-test.sh (nested), tests/unit/test_snapshot.c'),
                 ('an unmodified hypervisor as L1: Linux 6.1 kvm_intel running an L2 guest', 'yes', 'tests/linux-kvm.sh (make linux-check)')]:
    lines.append('| %s | nested | n/a | %s | %s |' % (m, l1, t))
open(out, 'w').write('\n'.join(lines) + '\n')
