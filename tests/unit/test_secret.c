/* Secrets and devices: the name, key and size rules, device paths and
 * lists, device admission with the documented message, and sealing with
 * AES-256-GCM (round trip, bound to its subnet/name, tamper-evident, key
 * file made 0600 and read back with the same fingerprint). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/secret.h"
#include "server/seal.h"

static void test_names(void **state)
{
        struct idyl_err err = IDYL_ERR_INIT;
        char long_name[80];

        (void)state;
        assert_int_equal(secret_name_check("db", &err), 0);
        assert_int_equal(secret_name_check("a-1", &err), 0);
        assert_int_equal(secret_name_check("Db", &err), -1);
        assert_int_equal(err.code, IDYL_E_INVALID);
        assert_string_equal(err.msg, "invalid secret name \"Db\": must be a DNS-1123 label "
                                     "([a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters)");
        assert_int_equal(secret_name_check("-a", &err), -1);
        assert_int_equal(secret_name_check("a-", &err), -1);
        assert_int_equal(secret_name_check("a.b", &err), -1);
        assert_int_equal(secret_name_check("", &err), -1);
        assert_string_equal(err.msg, "a secret name is required");
        memset(long_name, 'a', 64);
        long_name[64] = '\0';
        assert_int_equal(secret_name_check(long_name, &err), -1);
        long_name[63] = '\0';
        assert_int_equal(secret_name_check(long_name, &err), 0);
}

static void test_keys(void **state)
{
        static const char *const good[] = {"a", "A.b_c-d", "..x", ".env", "tls.crt", NULL};
        static const char *const bad[] = {"", ".", "..", "a/b", "a b", "é", "a=b", NULL};
        struct idyl_err err = IDYL_ERR_INIT;

        (void)state;
        for (size_t i = 0; good[i]; i++)
                assert_int_equal(secret_key_check(good[i], &err), 0);
        for (size_t i = 0; bad[i]; i++)
                assert_int_equal(secret_key_check(bad[i], &err), -1);
        assert_int_equal(secret_key_check("..", &err), -1);
        assert_string_equal(err.msg, "invalid secret key \"..\": must match [-._a-zA-Z0-9]+ (at "
                                     "most 253 characters), other than \".\" and \"..\"");
}

static void test_size(void **state)
{
        struct idyl_err err = IDYL_ERR_INIT;

        (void)state;
        assert_int_equal(secret_size_check(1048576, &err), 0);
        assert_int_equal(secret_size_check(1048577, &err), -1);
        assert_string_equal(err.msg, "secret values are 1048577 bytes together: at most 1048576 "
                                     "bytes are allowed");
}

static void test_device_paths_and_lists(void **state)
{
        static const char *const bad[] = {"",          "/dev/",     "/dev",     "dev/fuse",
                                          "/etc/fuse", "/dev/../x", "/dev//x",  "/dev/x/",
                                          "/dev/a,b",  "/dev/a b",  "/dev/x\n", NULL};
        const char *paths[] = {"/dev/fuse", "/dev/net/tun"};
        struct idyl_err err = IDYL_ERR_INIT;
        char list[DEVICE_LIST_TEXT];

        (void)state;
        assert_int_equal(device_path_check("/dev/fuse", "--device", &err), 0);
        assert_int_equal(device_path_check("/dev/net/tun", "--device", &err), 0);
        for (size_t i = 0; bad[i]; i++)
                assert_int_equal(device_path_check(bad[i], "--device", &err), -1);
        assert_int_equal(device_path_check("/etc/passwd", "--allow-device", &err), -1);
        assert_string_equal(err.msg, "invalid --allow-device \"/etc/passwd\": want a device path "
                                     "under /dev/ such as /dev/fuse");

        assert_int_equal(device_list_join(paths, 2, list, sizeof(list)), 0);
        assert_string_equal(list, "/dev/fuse,/dev/net/tun");
        assert_int_equal(device_list_join(paths, 2, list, 10), -1);
        assert_true(device_list_has("/dev/fuse,/dev/net/tun", "/dev/net/tun"));
        assert_false(device_list_has("/dev/fuse,/dev/net/tun", "/dev/net"));
        assert_false(device_list_has("/dev/fuse1", "/dev/fuse"));
        assert_false(device_list_has("", "/dev/fuse"));
        assert_true(device_list_covers("/dev/a,/dev/b", "/dev/b,/dev/a"));
        assert_true(device_list_covers("", ""));
        assert_true(device_list_covers("/dev/a", NULL));
        assert_false(device_list_covers("/dev/a", "/dev/a,/dev/c"));
        assert_false(device_list_covers(NULL, "/dev/a"));
}

static void test_device_admission(void **state)
{
        struct device_policy none = {0}, fuse = {.set = true};
        struct idyl_err err = IDYL_ERR_INIT;

        (void)state;
        snprintf(fuse.allowed, sizeof(fuse.allowed), "/dev/fuse");
        assert_int_equal(device_admission_check(&none, "", &err), 0);
        assert_int_equal(device_admission_check(&none, "/dev/fuse", &err), -1);
        assert_int_equal(err.code, IDYL_E_DEVICE_NOT_ALLOWED);
        assert_string_equal(err.msg, "device \"/dev/fuse\" is not allowed by subnet devicePolicy");
        assert_int_equal(device_admission_check(&fuse, "/dev/fuse", &err), 0);
        assert_int_equal(device_admission_check(&fuse, "/dev/fuse,/dev/kvm", &err), -1);
        assert_string_equal(err.msg, "device \"/dev/kvm\" is not allowed by subnet devicePolicy");
        assert_int_equal(idyl_errcode_http_status(IDYL_E_DEVICE_NOT_ALLOWED), 422);
        assert_string_equal(idyl_errcode_name(IDYL_E_DEVICE_NOT_ALLOWED), "device_not_allowed");
}

/* A key in a fresh temporary file (made by seal_key_load). */
static void temp_key(char *path, size_t size, struct seal_key *key)
{
        struct idyl_err err = IDYL_ERR_INIT;
        const char *tmp = getenv("TMPDIR");
        char dir[256];

        snprintf(dir, sizeof(dir), "%s/idyl-seal.XXXXXX", tmp && *tmp ? tmp : "/tmp");
        assert_non_null(mkdtemp(dir));
        snprintf(path, size, "%s/secret.key", dir);
        assert_int_equal(seal_key_load(path, true, key, &err), 0);
}

static void remove_key(const char *path)
{
        char dir[300];

        snprintf(dir, sizeof(dir), "%s", path);
        unlink(path);
        *strrchr(dir, '/') = '\0';
        rmdir(dir);
}

static void test_key_file(void **state)
{
        struct idyl_err err = IDYL_ERR_INIT;
        struct seal_key a, b;
        char path[300];
        struct stat st;
        FILE *f;

        (void)state;
        temp_key(path, sizeof(path), &a);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        assert_int_equal(st.st_size, 65);
        assert_int_equal(strncmp(a.fingerprint, "sha256:", 7), 0);
        assert_int_equal(strlen(a.fingerprint), 71);
        /* read back: the same key, the same fingerprint */
        assert_int_equal(seal_key_load(path, false, &b, &err), 0);
        assert_memory_equal(a.key, b.key, SEAL_KEY_LEN);
        assert_string_equal(a.fingerprint, b.fingerprint);
        /* a malformed file is refused, never replaced */
        f = fopen(path, "w");
        fputs("not hex\n", f);
        fclose(f);
        assert_int_equal(seal_key_load(path, true, &b, &err), -1);
        assert_int_equal(err.code, IDYL_E_INVALID);
        remove_key(path);
        /* a missing file without create is an error */
        assert_int_equal(seal_key_load(path, false, &b, &err), -1);
}

static void test_seal_round_trip(void **state)
{
        static const char value[] = "s3cr3t\0with-a-nul";
        struct idyl_err err = IDYL_ERR_INIT;
        unsigned char *sealed = NULL, *plain = NULL, *again = NULL;
        size_t slen, plen, alen;
        struct seal_key key, other;
        char path[300], path2[300];

        (void)state;
        temp_key(path, sizeof(path), &key);
        temp_key(path2, sizeof(path2), &other);
        assert_int_equal(
            seal_value(&key, "100000000001/db", value, sizeof(value), &sealed, &slen, &err), 0);
        assert_int_equal(slen, sizeof(value) + SEAL_OVERHEAD);
        assert_null(memmem(sealed, slen, "s3cr3t", 6));
        assert_int_equal(seal_open(&key, "100000000001/db", sealed, slen, &plain, &plen, &err), 0);
        assert_int_equal(plen, sizeof(value));
        assert_memory_equal(plain, value, sizeof(value));
        /* each seal has its own nonce */
        assert_int_equal(
            seal_value(&key, "100000000001/db", value, sizeof(value), &again, &alen, &err), 0);
        assert_memory_not_equal(again, sealed, SEAL_NONCE_LEN);
        /* bound to its subnet/name, to the key, and tamper-evident */
        assert_int_equal(seal_open(&key, "100000000002/db", sealed, slen, &plain, &plen, &err), -1);
        assert_int_equal(seal_open(&other, "100000000001/db", sealed, slen, &plain, &plen, &err),
                         -1);
        sealed[SEAL_NONCE_LEN] ^= 1;
        assert_int_equal(seal_open(&key, "100000000001/db", sealed, slen, &plain, &plen, &err), -1);
        assert_int_equal(seal_open(&key, "100000000001/db", sealed, 10, &plain, &plen, &err), -1);
        free(sealed);
        free(again);
        free(plain);
        remove_key(path);
        remove_key(path2);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_names),
            cmocka_unit_test(test_keys),
            cmocka_unit_test(test_size),
            cmocka_unit_test(test_device_paths_and_lists),
            cmocka_unit_test(test_device_admission),
            cmocka_unit_test(test_key_file),
            cmocka_unit_test(test_seal_round_trip),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
