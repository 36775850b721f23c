/* Chat templates: each family renders exactly the published format
 * (expectations written by hand from Meta's and ChatML's documented layouts),
 * the two-call buffer contract, argument checks, and recognition of the
 * family from a model's tokenizer.chat_template (with the ChatML fallback
 * and its warning). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "chat/chat.h"
#include "edgeformer/edgeformer.h"
#include "gguf_copy_meta.h"


static const char *const k_roles[] = {"system", "user", "assistant", "user"};
static const char *const k_contents[] = {"You are terse.", "Hi!", "Hello.", "Bye?"};

static const char k_llama2[] =
    "<s>[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nHi! [/INST] Hello. </s><s>[INST] Bye? [/INST]";
static const char k_llama3[] =
    "<|begin_of_text|>"
    "<|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>"
    "<|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>"
    "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>"
    "<|start_header_id|>user<|end_header_id|>\n\nBye?<|eot_id|>"
    "<|start_header_id|>assistant<|end_header_id|>\n\n";
static const char k_chatml[] =
    "<|im_start|>system\nYou are terse.<|im_end|>\n"
    "<|im_start|>user\nHi!<|im_end|>\n"
    "<|im_start|>assistant\nHello.<|im_end|>\n"
    "<|im_start|>user\nBye?<|im_end|>\n"
    "<|im_start|>assistant\n";

/* Renders with a named family into a fresh buffer and checks the text. */
static void expect_named(const char *family, const char *const *roles, const char *const *contents, size_t n,
                         int add_gen, const char *want) {
    char buf[1024];
    size_t needed = 0;
    ef_status st = ef_chat_apply_template_named(family, roles, contents, n, add_gen, buf, sizeof buf, &needed);
    if (st != EF_OK) fprintf(stderr, "%s: %s\n", family, ef_last_error());
    assert_int_equal(st, EF_OK);
    assert_string_equal(buf, want);
    assert_int_equal(needed, strlen(want) + 1);
}

static void test_families_exact(void **state) {
    (void)state;
    expect_named("llama2", k_roles, k_contents, 4, 1, k_llama2);
    expect_named("llama2", k_roles, k_contents, 4, 0, k_llama2); /* no generation prompt in this format */
    expect_named("llama3", k_roles, k_contents, 4, 1, k_llama3);
    expect_named("chatml", k_roles, k_contents, 4, 1, k_chatml);
    /* without the generation prompt, the text ends after the last turn */
    expect_named("llama3", k_roles, k_contents, 4, 0,
                 "<|begin_of_text|>"
                 "<|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>"
                 "<|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>"
                 "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>"
                 "<|start_header_id|>user<|end_header_id|>\n\nBye?<|eot_id|>");
    expect_named("chatml", k_roles, k_contents, 2, 0,
                 "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n");
    /* llama2 without a system message */
    expect_named("llama2", k_roles + 1, k_contents + 1, 3, 1, "<s>[INST] Hi! [/INST] Hello. </s><s>[INST] Bye? [/INST]");
    /* no messages: only the generation prompt */
    expect_named("chatml", NULL, NULL, 0, 1, "<|im_start|>assistant\n");
    expect_named("llama3", NULL, NULL, 0, 1, "<|start_header_id|>assistant<|end_header_id|>\n\n");
    expect_named("llama2", NULL, NULL, 0, 1, "");
}

static void test_whitespace_rules(void **state) {
    (void)state;
    const char *roles[] = {"user", "assistant"};
    const char *contents[] = {"  Hi!\n", " Hello. "};
    /* Llama-2 and Llama-3 strip contents (their templates call trim/strip) */
    expect_named("llama2", roles, contents, 2, 0, "<s>[INST] Hi! [/INST] Hello. </s>");
    expect_named("llama3", roles, contents, 1, 0, "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>");
    /* ChatML keeps them verbatim */
    expect_named("chatml", roles, contents, 1, 0, "<|im_start|>user\n  Hi!\n<|im_end|>\n");
    /* Llama-2 system + first user: the combined text is stripped at its end */
    const char *r2[] = {"system", "user"};
    const char *c2[] = {"Sys", "Q  "};
    expect_named("llama2", r2, c2, 2, 1, "<s>[INST] <<SYS>>\nSys\n<</SYS>>\n\nQ [/INST]");
}

static void test_two_call_buffer(void **state) {
    (void)state;
    size_t needed = 0;
    assert_int_equal(ef_chat_apply_template_named("chatml", k_roles, k_contents, 4, 1, NULL, 0, &needed),
                     EF_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(needed, strlen(k_chatml) + 1);
    /* one byte short: error, the buffer is left untouched */
    char buf[512];
    memset(buf, 'x', sizeof buf);
    size_t again = 0;
    assert_int_equal(ef_chat_apply_template_named("chatml", k_roles, k_contents, 4, 1, buf, needed - 1, &again),
                     EF_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(again, needed);
    for (size_t i = 0; i < sizeof buf; i++) assert_int_equal(buf[i], 'x');
    assert_non_null(strstr(ef_last_error(), "bytes"));
    /* exactly enough: filled and NUL-terminated */
    assert_int_equal(ef_chat_apply_template_named("chatml", k_roles, k_contents, 4, 1, buf, needed, &again), EF_OK);
    assert_int_equal(again, needed);
    assert_string_equal(buf, k_chatml);
    assert_int_equal(buf[needed], 'x'); /* nothing written past it */
}

static void test_argument_errors(void **state) {
    (void)state;
    char buf[256];
    size_t needed = 0;
    assert_int_equal(ef_chat_apply_template_named("chatml", k_roles, k_contents, 4, 1, buf, sizeof buf, NULL),
                     EF_ERR_INVALID_ARG);
    assert_int_equal(ef_chat_apply_template_named("chatml", k_roles, k_contents, 4, 1, NULL, 8, &needed),
                     EF_ERR_INVALID_ARG);
    assert_int_equal(ef_chat_apply_template_named("jinja", k_roles, k_contents, 4, 1, buf, sizeof buf, &needed),
                     EF_ERR_INVALID_ARG);
    assert_non_null(strstr(ef_last_error(), "jinja"));
    assert_int_equal(ef_chat_apply_template_named(NULL, k_roles, k_contents, 4, 1, buf, sizeof buf, &needed),
                     EF_ERR_INVALID_ARG);
    assert_int_equal(ef_chat_apply_template_named("chatml", NULL, k_contents, 4, 1, buf, sizeof buf, &needed),
                     EF_ERR_INVALID_ARG);
    const char *null_content[] = {"user"};
    const char *nulls[] = {NULL};
    assert_int_equal(ef_chat_apply_template_named("llama3", null_content, nulls, 1, 1, buf, sizeof buf, &needed),
                     EF_ERR_INVALID_ARG);
    assert_non_null(strstr(ef_last_error(), "message 0"));
    /* Llama-2 knows only a first system, then user/assistant */
    const char *tool[] = {"user", "tool"};
    const char *two[] = {"a", "b"};
    assert_int_equal(ef_chat_apply_template_named("llama2", tool, two, 2, 1, buf, sizeof buf, &needed),
                     EF_ERR_INVALID_ARG);
    assert_non_null(strstr(ef_last_error(), "'tool'"));
    const char *late_system[] = {"user", "system"};
    assert_int_equal(ef_chat_apply_template_named("llama2", late_system, two, 2, 1, buf, sizeof buf, &needed),
                     EF_ERR_INVALID_ARG);
    /* ChatML and Llama-3 take any role name */
    expect_named("chatml", tool, two, 2, 0, "<|im_start|>user\na<|im_end|>\n<|im_start|>tool\nb<|im_end|>\n");
    assert_int_equal(ef_chat_apply_template(NULL, k_roles, k_contents, 4, 1, buf, sizeof buf, &needed),
                     EF_ERR_INVALID_ARG);
    assert_string_equal(ef_chat_template_family(NULL), "chatml");
}

static void test_detect_markers(void **state) {
    (void)state;
    const char *t1 = "{{ bos_token + '[INST] ' + message['content'] + ' [/INST]' }}";
    const char *t3 = "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}";
    const char *tc = "{{ '<|im_start|>' + message['role'] + '\\n' }}";
    assert_int_equal(ef_chat_detect(t1, strlen(t1)), EF_CHAT_LLAMA2);
    assert_int_equal(ef_chat_detect(t3, strlen(t3)), EF_CHAT_LLAMA3);
    assert_int_equal(ef_chat_detect(tc, strlen(tc)), EF_CHAT_CHATML);
    assert_int_equal(ef_chat_detect("### Instruction:", 16), EF_CHAT_UNKNOWN);
    assert_int_equal(ef_chat_detect(NULL, 0), EF_CHAT_UNKNOWN);
    /* the length is honoured: a marker beyond it does not count */
    assert_int_equal(ef_chat_detect(tc, 5), EF_CHAT_UNKNOWN);
}

/* ---- templates from model metadata ---- */

typedef struct log_capture {
    int warnings;
    char last[512];
} log_capture;

static void capture_log(void *user, int32_t level, const char *message) {
    log_capture *c = user;
    if (level == EF_LOG_WARN) {
        c->warnings++;
        snprintf(c->last, sizeof c->last, "%s", message);
    }
}

/* The fixture model with tokenizer.chat_template set to tmpl (NULL: none). */
static ef_model *model_with_template(const char *tmpl, const char *tag) {
    char path[1024];
    snprintf(path, sizeof path, "%s/chat_%s.gguf", EF_TEST_TMP, tag);
    meta_edit e = {"tokenizer.chat_template", 0, 0, tmpl};
    assert_int_equal(gguf_copy_with_meta(PPL_MODEL, path, &e, tmpl ? 1 : 0), EF_OK);
    ef_model *m = NULL;
    assert_int_equal(ef_model_load(path, NULL, &m), EF_OK);
    return m;
}

static void expect_model_renders(const char *tmpl, const char *tag, const char *family, int warns) {
    log_capture cap = {0, {0}};
    ef_set_log_callback(capture_log, &cap, EF_LOG_WARN);
    ef_model *m = model_with_template(tmpl, tag);
    assert_string_equal(ef_chat_template_family(m), family);
    char got[1024], want[1024];
    size_t n1 = 0, n2 = 0;
    assert_int_equal(ef_chat_apply_template(m, k_roles, k_contents, 4, 1, got, sizeof got, &n1), EF_OK);
    assert_int_equal(ef_chat_apply_template_named(family, k_roles, k_contents, 4, 1, want, sizeof want, &n2), EF_OK);
    assert_string_equal(got, want);
    assert_int_equal(n1, n2);
    if (warns) {
        assert_true(cap.warnings >= 1);
        assert_non_null(strstr(cap.last, "ChatML"));
    } else {
        assert_int_equal(cap.warnings, 0);
    }
    ef_set_log_callback(NULL, NULL, EF_LOG_WARN);
    ef_model_free(m);
}

static void test_family_from_model(void **state) {
    (void)state;
    expect_model_renders("{% for message in messages %}{% if message['role'] == 'user' %}"
                         "{{ bos_token + '[INST] ' + message['content'] | trim + ' [/INST]' }}"
                         "{% elif message['role'] == 'assistant' %}"
                         "{{ ' ' + message['content'] | trim + ' ' + eos_token }}{% endif %}{% endfor %}",
                         "llama2", "llama2", 0);
    expect_model_renders("{{ bos_token }}{% for message in messages %}"
                         "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + "
                         "message['content'] | trim + '<|eot_id|>' }}{% endfor %}"
                         "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}"
                         "{% endif %}",
                         "llama3", "llama3", 0);
    expect_model_renders("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + "
                         "message['content'] + '<|im_end|>' + '\n' }}{% endfor %}"
                         "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
                         "chatml", "chatml", 0);
    /* unknown and missing templates: ChatML, with a warning */
    expect_model_renders("{% for message in messages %}### {{ message['role'] }}:\n{{ message['content'] }}\n"
                         "{% endfor %}",
                         "unknown", "chatml", 1);
    expect_model_renders(NULL, "none", "chatml", 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_families_exact),   cmocka_unit_test(test_whitespace_rules),
        cmocka_unit_test(test_two_call_buffer),  cmocka_unit_test(test_argument_errors),
        cmocka_unit_test(test_detect_markers),   cmocka_unit_test(test_family_from_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
