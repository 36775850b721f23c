//! Chat templates: render (role, content) messages as a model's prompt text.
use std::ffi::{c_char, CString};

use edgeformer_sys as sys;

use crate::error::{cstr, Result};
use crate::model::{c_string, two_call_string, Model};

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    /// "system", "user" or "assistant".
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        ChatMessage { role: role.into(), content: content.into() }
    }
}

type Renderer<'a> =
    dyn FnMut(*const *const c_char, *const *const c_char, usize, i32, *mut c_char, usize, *mut usize) -> i32 + 'a;

fn render(messages: &[ChatMessage], add_generation_prompt: bool, f: &mut Renderer<'_>) -> Result<String> {
    let roles: Vec<CString> = messages.iter().map(|m| c_string(&m.role, "role")).collect::<Result<_>>()?;
    let contents: Vec<CString> = messages.iter().map(|m| c_string(&m.content, "content")).collect::<Result<_>>()?;
    let rp: Vec<*const c_char> = roles.iter().map(|s| s.as_ptr()).collect();
    let cp: Vec<*const c_char> = contents.iter().map(|s| s.as_ptr()).collect();
    let gen = i32::from(add_generation_prompt);
    two_call_string(|b, c, n| f(rp.as_ptr(), cp.as_ptr(), messages.len(), gen, b, c, n))
}

/// Renders messages in a named format ("llama2", "llama3", "chatml");
/// tokenize the result with parse_special.
pub fn apply_chat_template(
    template_name: &str,
    messages: &[ChatMessage],
    add_generation_prompt: bool,
) -> Result<String> {
    let name = c_string(template_name, "template name")?;
    render(messages, add_generation_prompt, &mut |r, c, n, g, b, cap, need| unsafe {
        sys::ef_chat_apply_template_named(name.as_ptr(), r, c, n, g, b, cap, need)
    })
}

impl Model {
    /// The chat format of this model: "llama2", "llama3" or "chatml".
    pub fn chat_template_family(&self) -> String {
        unsafe { cstr(sys::ef_chat_template_family(self.as_ptr())) }
    }

    /// Renders messages in the model's chat format.
    pub fn apply_chat_template(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String> {
        let m = self.as_ptr();
        render(messages, add_generation_prompt, &mut |r, c, n, g, b, cap, need| unsafe {
            sys::ef_chat_apply_template(m, r, c, n, g, b, cap, need)
        })
    }
}
