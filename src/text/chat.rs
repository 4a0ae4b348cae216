//! Chat conversations into tokens and a loss mask.

use serde::Deserialize;

use super::tokenizer::Tokenizer;
use crate::error::{Error, Result};

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Message {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text of the turn.
    pub content: String,
}

/// Which tokens of a conversation are training targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossPolicy {
    /// Every token.
    All,
    /// Only the assistant's turns and their end markers.
    AssistantOnly,
}

impl LossPolicy {
    /// Parses `all` or `assistant_only` (`assistant-only` too).
    pub fn from_name(s: &str) -> Option<LossPolicy> {
        match s {
            "all" => Some(LossPolicy::All),
            "assistant_only" | "assistant-only" => Some(LossPolicy::AssistantOnly),
            _ => None,
        }
    }
}

/// How a conversation is laid out as text: each message is `start` (with `{role}` replaced
/// by the role), then its content, then `end`. The default is ChatML's markers, written as
/// text: `<|im_start|>{role}\n` ... `<|im_end|>\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatTemplate {
    /// Before each message; `{role}` becomes the role.
    pub start: String,
    /// After each message.
    pub end: String,
}

impl Default for ChatTemplate {
    fn default() -> ChatTemplate {
        ChatTemplate {
            start: "<|im_start|>{role}\n".into(),
            end: "<|im_end|>\n".into(),
        }
    }
}

impl ChatTemplate {
    /// The conversation's text, as [`render`](Self::render) tokenizes it.
    pub fn text(&self, messages: &[Message]) -> String {
        messages
            .iter()
            .map(|m| {
                format!(
                    "{}{}{}",
                    self.start.replace("{role}", &m.role),
                    m.content,
                    self.end
                )
            })
            .collect()
    }

    /// Tokens and loss mask of a conversation. Each piece (marker, content, marker) is
    /// tokenized on its own, so the mask falls exactly on the pieces' boundaries; with
    /// [`LossPolicy::AssistantOnly`] the assistant's content and its end marker are the only
    /// targets.
    pub fn render(
        &self,
        tokenizer: &Tokenizer,
        messages: &[Message],
        policy: LossPolicy,
    ) -> Result<(Vec<u32>, Vec<bool>)> {
        let mut ids = Vec::new();
        let mut mask = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            if !matches!(m.role.as_str(), "system" | "user" | "assistant") {
                return Err(Error::InvalidArgument(format!(
                    "message {i} has role {:?}; use system, user or assistant",
                    m.role
                )));
            }
            let target = policy == LossPolicy::All || m.role == "assistant";
            let header = tokenizer.encode(&self.start.replace("{role}", &m.role))?;
            mask.extend(std::iter::repeat_n(policy == LossPolicy::All, header.len()));
            ids.extend(header);
            for piece in [&m.content, &self.end] {
                let t = tokenizer.encode(piece)?;
                mask.extend(std::iter::repeat_n(target, t.len()));
                ids.extend(t);
            }
        }
        Ok((ids, mask))
    }
}
