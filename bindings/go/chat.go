package edgeformer

/*
#include <stdlib.h>
#include "edgeformer/edgeformer.h"
*/
import "C"

import "unsafe"

// ChatMessage is one message of a conversation.
type ChatMessage struct {
	Role    string // "system", "user" or "assistant"
	Content string
}

// renderChat copies the messages into C strings and runs a template renderer.
func renderChat(messages []ChatMessage, addGenerationPrompt bool,
	f func(roles, contents **C.char, n C.size_t, gen C.int32_t, buf *C.char, cap C.size_t, needed *C.size_t) C.ef_status) (string, error) {
	n := len(messages)
	// the pointer arrays live in C memory, so no Go pointer is handed to C
	size := C.size_t(unsafe.Sizeof((*C.char)(nil))) * C.size_t(n+1)
	roles := unsafe.Slice((**C.char)(C.malloc(size)), n+1)
	contents := unsafe.Slice((**C.char)(C.malloc(size)), n+1)
	defer C.free(unsafe.Pointer(&roles[0]))
	defer C.free(unsafe.Pointer(&contents[0]))
	for i, m := range messages {
		roles[i], contents[i] = C.CString(m.Role), C.CString(m.Content)
	}
	defer func() {
		for i := 0; i < n; i++ {
			C.free(unsafe.Pointer(roles[i]))
			C.free(unsafe.Pointer(contents[i]))
		}
	}()
	gen := C.int32_t(0)
	if addGenerationPrompt {
		gen = 1
	}
	return twoCallString(func(buf *C.char, cap C.size_t, needed *C.size_t) C.ef_status {
		return f(&roles[0], &contents[0], C.size_t(n), gen, buf, cap, needed)
	})
}

// ApplyChatTemplate renders messages in a named format ("llama2", "llama3",
// "chatml"); tokenize the result with parseSpecial.
func ApplyChatTemplate(templateName string, messages []ChatMessage, addGenerationPrompt bool) (string, error) {
	name := C.CString(templateName)
	defer C.free(unsafe.Pointer(name))
	return renderChat(messages, addGenerationPrompt,
		func(r, c **C.char, n C.size_t, g C.int32_t, b *C.char, cap C.size_t, need *C.size_t) C.ef_status {
			return C.ef_chat_apply_template_named(name, r, c, n, g, b, cap, need)
		})
}

// ChatTemplateFamily is the model's chat format: "llama2", "llama3" or "chatml".
func (m *Model) ChatTemplateFamily() string {
	var s string
	_ = m.with(func(p *C.ef_model) error { s = C.GoString(C.ef_chat_template_family(p)); return nil })
	return s
}

// ApplyChatTemplate renders messages in the model's chat format.
func (m *Model) ApplyChatTemplate(messages []ChatMessage, addGenerationPrompt bool) (string, error) {
	var out string
	err := m.with(func(p *C.ef_model) error {
		var err error
		out, err = renderChat(messages, addGenerationPrompt,
			func(r, c **C.char, n C.size_t, g C.int32_t, b *C.char, cap C.size_t, need *C.size_t) C.ef_status {
				return C.ef_chat_apply_template(p, r, c, n, g, b, cap, need)
			})
		return err
	})
	return out, err
}
