/* L0's VMX test mode (-vmx-test): lets a guest program vmcs01's controls so
 * that guest tests can check every VM-execution control of the CPU from
 * inside. Not for production use: a guest can make itself misbehave. */
#ifndef NVMX_VMM_VMX_TEST_H
#define NVMX_VMM_VMX_TEST_H

#include <stdbool.h>

#include "board/machine.h"
#include "cpu/vmcs.h"

/* Hypercalls (VMCALL with RAX = one of these):
 *   SET   RBX = field encoding, RCX = value -> RAX = VM-instruction error (0 ok)
 *   GET   RBX = field encoding -> RAX = value, RBX = error
 *   COUNT RBX = basic exit reason -> RAX = exits of that reason so far
 *   LAST  -> RAX reason, RBX qualification, RCX instruction length,
 *            RDX instruction information, RSI exit interruption information
 *            of the last exit L0 stepped over for the test
 *   RESET -> restores L0's own controls */
#define VMX_TEST_SET 0x4e560001u
#define VMX_TEST_GET 0x4e560002u
#define VMX_TEST_COUNT 0x4e560003u
#define VMX_TEST_LAST 0x4e560004u
#define VMX_TEST_RESET 0x4e560005u

/* Handles a VMCALL in test mode; false if it is not a test hypercall. */
bool vmx_test_hypercall(struct machine *m, int vcpu, struct vmcs *v);
/* Handles an exit that only a test control can cause: records it and
 * completes the instruction by stepping it with L0's own controls (MTF),
 * or reflects an intercepted exception. Returns false if it is not one. */
bool vmx_test_exit(struct machine *m, int vcpu, struct vmcs *v, uint32_t reason);
/* Called for MTF exits: ends a step. */
bool vmx_test_step_done(struct machine *m, int vcpu, struct vmcs *v);
/* Remembers L0's own controls of vmcs01 (at machine creation). */
void vmx_test_init(struct machine *m, int vcpu, const struct vmcs *v);

#endif
