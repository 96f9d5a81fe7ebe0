/* A shared library for the tests of check_exports.sh: one public name, and one it must report, either an
 * internal inb__ function or a name outside the inb_ prefix, exported by mistake. */
int inb_fixture_public(void) { return 0; }

#ifdef FIXTURE_INTERNAL
int inb__fixture_internal(void) { return 1; }
#else
int fixture_foreign(void) { return 2; }
#endif
