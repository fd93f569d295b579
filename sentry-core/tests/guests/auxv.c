/* Checks the auxiliary vector against the program and its interpreter. */
#include <elf.h>
#include <link.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/prctl.h>

extern char _start[];
extern Elf64_Dyn _DYNAMIC[] __attribute__((weak));

int main(int argc, char **argv) {
    (void)argc;
    unsigned long base = getauxval(AT_BASE), entry = getauxval(AT_ENTRY);
    const Elf64_Phdr *ph = (const Elf64_Phdr *)getauxval(AT_PHDR);
    unsigned long phnum = getauxval(AT_PHNUM);
    /* The load bias: from PT_PHDR, else from PT_DYNAMIC (static PIE), else 0. */
    unsigned long bias = 0;
    int have_phdr = 0;
    const Elf64_Phdr *first_load = NULL;
    int loads = 0, interp = 0;
    for (unsigned long i = 0; i < phnum; i++) {
        if (ph[i].p_type == PT_PHDR) {
            bias = (unsigned long)ph - ph[i].p_vaddr;
            have_phdr = 1;
        }
        if (ph[i].p_type == PT_INTERP) interp = 1;
        if (ph[i].p_type == PT_LOAD) {
            loads++;
            if (!first_load) first_load = &ph[i];
        }
    }
    for (unsigned long i = 0; i < phnum && !have_phdr; i++)
        if (ph[i].p_type == PT_DYNAMIC && _DYNAMIC) bias = (unsigned long)_DYNAMIC - ph[i].p_vaddr;
    const Elf64_Ehdr *eh = first_load ? (const Elf64_Ehdr *)(bias + first_load->p_vaddr - first_load->p_offset) : NULL;
    int ehdr_ok = eh && memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0;
    printf("phent=%lu loads>0=%d interp=%d\n", getauxval(AT_PHENT), loads > 0, interp);
    printf("entry_is_start=%d entry_matches_ehdr=%d\n", entry == (unsigned long)_start,
           ehdr_ok && eh->e_entry + bias == entry);
    printf("base_set=%d", base != 0);
    if (base) printf(" base_is_elf=%d base_aligned=%d", memcmp((const void *)base, ELFMAG, SELFMAG) == 0, (base & 4095) == 0);
    printf("\n");
    char comm[16] = {0};
    prctl(PR_GET_NAME, comm);
    printf("execfn=%s argv0=%s comm=%s\n", (const char *)getauxval(AT_EXECFN), argv[0], comm);
    return 0;
}
