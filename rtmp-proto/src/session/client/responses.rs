//! How the client reads the server's answers: `_result`/`_error` matched to pending
//! transactions, and `onStatus` (RTMP 1.0 §7.2.1.1, §7.2.2).

use onair_amf::amf0::Amf0Value;

use crate::chunk::MessageStreamId;
use crate::command::{CommandMessage, PublishType};
use crate::control::{ControlMessage, UserControlEvent};
use crate::error::{Error, SessionError};
use crate::session::shared::CSID_STREAM;
use crate::status::{OnStatusCode, Status, StatusLevel};

use super::{ActiveStream, ClientEvent, ClientSession, Intent, Pending};

impl ClientSession {
    pub(super) fn handle_command(
        &mut self,
        stream_id: MessageStreamId,
        command: CommandMessage,
    ) -> Result<(), Error> {
        match command.name.as_str() {
            "_result" | "_error" => {
                let is_error = command.name == "_error";
                let tx = command.transaction_id;
                let key = if (0.0..9e15).contains(&tx) {
                    tx as u64
                } else {
                    0
                };
                match self.pending.remove(&key) {
                    Some(Pending::Connect) => self.on_connect_response(&command, is_error),
                    Some(Pending::CreateStream(intent)) => {
                        self.on_create_stream_response(&command, is_error, intent)
                    }
                    None => Ok(()),
                }
            }
            "onStatus" => {
                self.on_status(stream_id, &command);
                Ok(())
            }
            // onBWDone, onFCPublish, onFCUnpublish, _onbwcheck...: informational.
            _ => Ok(()),
        }
    }

    fn on_connect_response(
        &mut self,
        command: &CommandMessage,
        is_error: bool,
    ) -> Result<(), Error> {
        let Status {
            code, description, ..
        } = command.status();
        if is_error || code != OnStatusCode::NetConnectionConnectSuccess {
            self.events
                .push_back(ClientEvent::Rejected { code, description });
            self.closed = true;
            return Ok(());
        }
        self.connected = true;
        self.outbound.set_chunk_size(self.config.out_chunk_size)?;
        self.events.push_back(ClientEvent::Connected);
        Ok(())
    }

    fn on_create_stream_response(
        &mut self,
        command: &CommandMessage,
        is_error: bool,
        intent: Intent,
    ) -> Result<(), Error> {
        if is_error {
            let Status {
                code, description, ..
            } = command.status();
            self.events
                .push_back(ClientEvent::Rejected { code, description });
            return Ok(());
        }
        let id = match command.args.first() {
            Some(Amf0Value::Number(n)) if *n >= 1.0 && *n <= f64::from(u32::MAX) => {
                MessageStreamId(*n as u32)
            }
            _ => {
                return Err(SessionError::UnexpectedResponse {
                    command: "createStream",
                }
                .into())
            }
        };
        let cmd = match &intent {
            Intent::Publish { key } => CommandMessage::new(
                "publish",
                0.0,
                Amf0Value::Null,
                vec![key.as_str().into(), PublishType::Live.as_str().into()],
            ),
            Intent::Play { name } => {
                self.outbound.control(&ControlMessage::UserControl(
                    UserControlEvent::SetBufferLength {
                        stream_id: id.0,
                        buffer_ms: self.config.buffer_length_ms,
                    },
                ))?;
                CommandMessage::new(
                    "play",
                    0.0,
                    Amf0Value::Null,
                    vec![name.as_str().into(), Amf0Value::Number(-2.0)],
                )
            }
        };
        self.outbound.command(CSID_STREAM, id, &cmd)?;
        self.stream = Some(ActiveStream {
            id,
            intent,
            started: false,
            ended: false,
        });
        Ok(())
    }

    fn on_status(&mut self, stream_id: MessageStreamId, command: &CommandMessage) {
        let Status {
            level,
            code,
            description,
        } = command.status();
        let Some(stream) = self.stream.as_mut().filter(|s| s.id == stream_id) else {
            self.events.push_back(ClientEvent::Status {
                level,
                code,
                description,
            });
            return;
        };
        match (&stream.intent, &code) {
            (Intent::Publish { .. }, OnStatusCode::NetStreamPublishStart) if !stream.started => {
                stream.started = true;
                self.events
                    .push_back(ClientEvent::PublishStarted { stream_id });
            }
            (Intent::Play { .. }, OnStatusCode::NetStreamPlayStart) if !stream.started => {
                stream.started = true;
                self.events
                    .push_back(ClientEvent::PlayStarted { stream_id });
            }
            _ if level == StatusLevel::Error => {
                self.stream = None;
                self.events
                    .push_back(ClientEvent::Rejected { code, description });
            }
            (
                Intent::Play { .. },
                OnStatusCode::NetStreamPlayStop | OnStatusCode::NetStreamPlayUnpublishNotify,
            ) => {
                let ended = stream.ended;
                stream.ended = true;
                self.events.push_back(ClientEvent::Status {
                    level,
                    code,
                    description,
                });
                if !ended {
                    self.events.push_back(ClientEvent::StreamEnded);
                }
            }
            _ => self.events.push_back(ClientEvent::Status {
                level,
                code,
                description,
            }),
        }
    }
}
