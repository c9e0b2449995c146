/* Proves cli/output.c's YAML: every string a YAML 1.1 reader would take for
 * a bool, null, number or timestamp (or trim) is quoted, so it reads back as
 * the same string; other strings stay plain; numbers, bools and nulls stay
 * what they are. Reads the output back with libyaml's parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "cli/cli.h"

/* output_yaml(v) as a string the caller frees. */
static char *yaml_of(const json_t *v)
{
        struct idyl_err err = IDYL_ERR_INIT;
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);

        assert_non_null(f);
        assert_int_equal(output_yaml(f, v, &err), 0);
        fclose(f);
        return text;
}

/* The style libyaml's parser reads for the value of the one-key mapping in
 * text, and its value in *value (caller frees). */
static yaml_scalar_style_t value_style(const char *text, char **value)
{
        yaml_parser_t p;
        yaml_event_t ev;
        yaml_scalar_style_t style = YAML_ANY_SCALAR_STYLE;
        int scalars = 0;

        assert_true(yaml_parser_initialize(&p));
        yaml_parser_set_input_string(&p, (const unsigned char *)text, strlen(text));
        for (;;) {
                assert_true(yaml_parser_parse(&p, &ev));
                if (ev.type == YAML_SCALAR_EVENT && ++scalars == 2) {
                        style = ev.data.scalar.style;
                        *value = strndup((const char *)ev.data.scalar.value, ev.data.scalar.length);
                }
                if (ev.type == YAML_STREAM_END_EVENT) {
                        yaml_event_delete(&ev);
                        break;
                }
                yaml_event_delete(&ev);
        }
        yaml_parser_delete(&p);
        assert_int_equal(scalars, 2);
        return style;
}

/* Writes {"v": s} and fails unless s reads back as itself, in `style`. */
static void assert_style(const char *s, yaml_scalar_style_t style)
{
        json_t *v = json_pack("{s:s}", "v", s);
        char *text = yaml_of(v), *back = NULL;

        if (value_style(text, &back) != style)
                fail_msg("\"%s\" is written %s: %s", s,
                         style == YAML_PLAIN_SCALAR_STYLE ? "quoted" : "unquoted", text);
        assert_string_equal(back, s);
        free(back);
        free(text);
        json_decref(v);
}

static void assert_quoted(const char *s)
{
        assert_style(s, YAML_DOUBLE_QUOTED_SCALAR_STYLE);
}

static void assert_plain(const char *s)
{
        assert_style(s, YAML_PLAIN_SCALAR_STYLE);
}

static void test_booleans_and_nulls(void **state)
{
        static const char *const v[] = {"yes",   "No",   "ON",   "off", "y", "N",  "true",
                                        "False", "null", "NULL", "~",   "",  "<<", "="};

        (void)state;
        for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
                assert_quoted(v[i]);
}

static void test_numbers(void **state)
{
        static const char *const v[] = {
            "12",   "-7",    "+3",    "1_000",    "0755",  "0o17",  "0x1F",    "0b1010",
            "1.5",  ".5",    "1e3",   "6.02e+23", "1.2.3", "12:30", "1:20:30", "190:20:30.15",
            ".inf", "-.Inf", "+.INF", ".nan",     ".NaN",  "0x_",   "1__2",    "3.",
        };

        (void)state;
        for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
                assert_quoted(v[i]);
}

static void test_timestamps(void **state)
{
        static const char *const v[] = {"2001-12-14", "2001-12-14t21:59:43.10-05:00",
                                        "2001-12-14 21:59:43.10 -5", "2026-12-02T13:46:36Z",
                                        "2002-1-1"};

        (void)state;
        for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
                assert_quoted(v[i]);
}

static void test_whitespace_and_controls(void **state)
{
        (void)state;
        assert_quoted(" leading");
        assert_quoted("trailing ");
        assert_quoted("\ttab");
        assert_quoted("two\nlines");
        assert_quoted("bell\a");
}

/* Ordinary strings, including ones that only look close, stay plain. */
static void test_plain(void **state)
{
        static const char *const v[] = {"web",   "nginx:1.25", "linux/amd64", "500m",
                                        "256Mi", "s-abc123",   "yesterday",   "none",
                                        "0oops", "v1.2.3",     "1Gi",         "2001-x",
                                        "a b",   "running",    "idyl_node_x", "12h"};

        (void)state;
        for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
                assert_plain(v[i]);
}

/* Keys follow the same rule; JSON numbers, bools and nulls stay typed. */
static void test_document(void **state)
{
        json_t *v = json_pack("{s:s,s:i,s:f,s:b,s:n,s:[s,s]}", "on", "12:30", "count", 3, "ratio",
                              0.1, "ready", 1, "gone", "tags", "1_000", "web");
        char *text = yaml_of(v);

        (void)state;
        assert_string_equal(text, "\"on\": \"12:30\"\n"
                                  "count: 3\n"
                                  "ratio: 0.1\n"
                                  "ready: true\n"
                                  "gone: null\n"
                                  "tags:\n"
                                  "  - \"1_000\"\n"
                                  "  - web\n");
        free(text);
        json_decref(v);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_booleans_and_nulls),
            cmocka_unit_test(test_numbers),
            cmocka_unit_test(test_timestamps),
            cmocka_unit_test(test_whitespace_and_controls),
            cmocka_unit_test(test_plain),
            cmocka_unit_test(test_document),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
