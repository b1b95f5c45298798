/* empty.c - keeps libcompat.a non-empty when the C library has everything. */
extern int tern_compat_empty;
int tern_compat_empty;
