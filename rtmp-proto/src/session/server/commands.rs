//! The server's NetConnection and NetStream command handlers (RTMP 1.0 §7.2.1, §7.2.2).

use onair_amf::amf0::Amf0Value;

use crate::chunk::MessageStreamId;
use crate::command::{CommandMessage, ConnectParams, PublishParams};
use crate::control::{ControlMessage, PeerBandwidthLimit};
use crate::error::{Error, NameError, SessionError};
use crate::session::names::{
    split_query, validate_app, QueryString, RequestId, StreamKey, StreamName,
};
use crate::session::shared::MAX_STREAMS;
use crate::status::{OnStatusCode, Status};

use super::{Cancelled, ServerEvent, ServerSession, StreamState};

/// How a refused `publish` is answered: an invalid name, a stream that can't publish now.
const PUBLISH_REFUSALS: [OnStatusCode; 2] = [
    OnStatusCode::NetStreamPublishBadName,
    OnStatusCode::NetStreamPublishBadConnection,
];
/// How a refused `play` is answered: an invalid name, a stream that can't play now.
const PLAY_REFUSALS: [OnStatusCode; 2] = [
    OnStatusCode::NetStreamPlayStreamNotFound,
    OnStatusCode::NetStreamPlayFailed,
];

impl ServerSession {
    pub(super) fn handle_command(
        &mut self,
        stream_id: MessageStreamId,
        command: CommandMessage,
    ) -> Result<(), Error> {
        let tx = command.transaction_id;
        if command.name == "connect" {
            return self.on_connect(&command);
        }
        let Some(app) = self.app.clone() else {
            return Err(SessionError::NotConnected.into());
        };
        match command.name.as_str() {
            "releaseStream" | "FCSubscribe" | "FCUnsubscribe" => self.result_if_asked(tx),
            "FCPublish" => {
                let name = command.first_string_arg().unwrap_or_default().to_owned();
                let status = Status::new(OnStatusCode::NetStreamPublishStart, name);
                let on_fc = CommandMessage::new(
                    "onFCPublish",
                    0.0,
                    Amf0Value::Null,
                    vec![status.to_amf0()],
                );
                self.reply(&on_fc)?;
                self.result_if_asked(tx)
            }
            "createStream" => {
                if self.streams.len() >= MAX_STREAMS {
                    let error = CommandMessage::error(
                        tx,
                        OnStatusCode::NetConnectionCallFailed,
                        "too many streams",
                    );
                    return self.reply(&error);
                }
                let id = self.next_stream_id;
                self.next_stream_id = self.next_stream_id.saturating_add(1);
                self.streams.insert(id, StreamState::Idle);
                let result =
                    CommandMessage::result(tx, Amf0Value::Null, Amf0Value::Number(id.into()));
                self.reply(&result)
            }
            "publish" => self.on_publish(stream_id, &command, app),
            "play" => self.on_play(stream_id, &command, app),
            "FCUnpublish" => {
                let name = command.first_string_arg().unwrap_or_default();
                if let Some(id) = self.find_publisher(name) {
                    self.end_stream(id, false)?;
                }
                self.result_if_asked(tx)
            }
            "deleteStream" => {
                let id = match command.args.first() {
                    Some(Amf0Value::Number(n)) if *n >= 0.0 && *n <= f64::from(u32::MAX) => {
                        MessageStreamId(*n as u32)
                    }
                    // GStreamer's rtmp2sink names the stream instead of giving its id.
                    Some(Amf0Value::String(name)) => match self.find_publisher(name) {
                        Some(id) => id,
                        None => return Ok(()),
                    },
                    _ => stream_id,
                };
                self.end_stream(id, true)
            }
            "closeStream" => self.end_stream(stream_id, false),
            "getStreamLength" => {
                let result = CommandMessage::result(tx, Amf0Value::Null, Amf0Value::Number(0.0));
                self.reply(&result)
            }
            "receiveAudio" | "receiveVideo" | "pause" | "seek" | "_result" | "_error"
            | "onStatus" => Ok(()),
            _ if tx != 0.0 => {
                let error = CommandMessage::error(
                    tx,
                    OnStatusCode::NetConnectionCallFailed,
                    "unknown command",
                );
                self.reply(&error)
            }
            _ => Ok(()),
        }
    }

    /// The stream publishing (or asking to publish) `name` (`key?query`).
    fn find_publisher(&self, name: &str) -> Option<MessageStreamId> {
        let (name, _) = split_query(name);
        self.streams.iter().find_map(|(id, state)| match state {
            StreamState::Publishing { key } | StreamState::PublishPending { key, .. }
                if key.as_str() == name =>
            {
                Some(MessageStreamId(*id))
            }
            _ => None,
        })
    }

    fn result_if_asked(&mut self, tx: f64) -> Result<(), Error> {
        if tx == 0.0 {
            return Ok(());
        }
        self.reply(&CommandMessage::result(
            tx,
            Amf0Value::Null,
            Amf0Value::Undefined,
        ))
    }

    /// Stops whatever `stream_id` does; `delete` also forgets the stream.
    fn end_stream(&mut self, stream_id: MessageStreamId, delete: bool) -> Result<(), Error> {
        let state = if delete {
            self.streams.remove(&stream_id.0)
        } else {
            self.streams
                .get_mut(&stream_id.0)
                .map(|s| std::mem::replace(s, StreamState::Idle))
        };
        self.inbound.forget_stream(stream_id);
        match state {
            Some(StreamState::Publishing { .. }) => {
                self.events
                    .push_back(ServerEvent::PublishEnded { stream_id });
                // As nginx-rtmp: the publisher hears that its stream is down.
                return self.status(
                    stream_id,
                    OnStatusCode::NetStreamUnpublishSuccess,
                    "Stop publishing",
                );
            }
            Some(StreamState::Playing) => {
                self.events.push_back(ServerEvent::PlayEnded { stream_id })
            }
            Some(StreamState::PublishPending { request, early, .. }) => {
                self.requests.remove(&request);
                let cancelled = Cancelled {
                    stream_id,
                    publish: Some(early),
                };
                self.cancelled.insert(request, cancelled);
            }
            Some(StreamState::PlayPending { request, .. }) => {
                self.requests.remove(&request);
                let cancelled = Cancelled {
                    stream_id,
                    publish: None,
                };
                self.cancelled.insert(request, cancelled);
            }
            Some(StreamState::Idle) | None => {}
        }
        Ok(())
    }

    fn on_connect(&mut self, command: &CommandMessage) -> Result<(), Error> {
        let tx = command.transaction_id;
        if self.app.is_some() {
            let error = CommandMessage::error(
                tx,
                OnStatusCode::NetConnectionCallFailed,
                "already connected",
            );
            return self.reply(&error);
        }
        let params = match ConnectParams::from_command(command) {
            Ok(params) => params,
            Err(e) => {
                self.connect_rejected(tx, "malformed connect")?;
                return Err(e.into());
            }
        };
        if let Err(e) = validate_app(&params.app, self.config.max_name_length) {
            self.connect_rejected(tx, "invalid application name")?;
            return Err(SessionError::InvalidName(e).into());
        }
        self.outbound
            .control(&ControlMessage::WindowAckSize(self.config.window_ack_size))?;
        self.outbound.control(&ControlMessage::SetPeerBandwidth {
            size: self.config.peer_bandwidth,
            limit: PeerBandwidthLimit::Dynamic,
        })?;
        self.outbound.set_chunk_size(self.config.out_chunk_size)?;

        let mut properties = vec![
            (
                "fmsVer".to_owned(),
                Amf0Value::String("FMS/3,0,1,123".to_owned()),
            ),
            ("capabilities".to_owned(), Amf0Value::Number(31.0)),
        ];
        // Enhanced RTMP: echo what the client offered, so it knows we take those codecs.
        for key in [
            "fourCcList",
            "videoFourCcInfoMap",
            "audioFourCcInfoMap",
            "capsEx",
        ] {
            if let Some((k, v)) = params.properties.iter().find(|(k, _)| k == key) {
                properties.push((k.clone(), v.clone()));
            }
        }
        let mut information = Status::new(
            OnStatusCode::NetConnectionConnectSuccess,
            "Connection succeeded.",
        )
        .properties();
        information.push((
            "objectEncoding".to_owned(),
            Amf0Value::Number(params.object_encoding.unwrap_or(0.0)),
        ));
        self.reply(&CommandMessage::result(
            tx,
            Amf0Value::Object(properties),
            Amf0Value::Object(information),
        ))?;
        self.app = Some(params.app.clone());
        self.events.push_back(ServerEvent::Connected {
            app: params.app.clone(),
            tc_url: params.tc_url.clone(),
            params,
        });
        Ok(())
    }

    fn connect_rejected(&mut self, tx: f64, description: &str) -> Result<(), Error> {
        let error =
            CommandMessage::error(tx, OnStatusCode::NetConnectionConnectRejected, description);
        self.reply(&error)
    }

    /// The validated name of the `publish` or `play` `command` on `stream_id`, split from its
    /// query string. A missing or invalid name is answered with `bad_name` and ends the
    /// session (`Err`); a stream that is not an idle created one is answered with `busy` and
    /// gives `None`.
    fn requested_name<N>(
        &mut self,
        stream_id: MessageStreamId,
        command: &CommandMessage,
        [bad_name, busy]: [OnStatusCode; 2],
        validate: fn(&str, usize) -> Result<N, NameError>,
    ) -> Result<Option<(N, Option<QueryString>)>, Error> {
        let Some(name) = command.first_string_arg() else {
            self.status(stream_id, bad_name, "no name")?;
            return Err(SessionError::InvalidName(NameError::Empty).into());
        };
        let refusal = match self.streams.get(&stream_id.0) {
            Some(StreamState::Idle) => None,
            Some(_) => Some("stream is busy"),
            None => Some("no such stream"),
        };
        if let Some(description) = refusal {
            self.status(stream_id, busy, description)?;
            return Ok(None);
        }
        let (name, query) = split_query(name);
        match validate(name, self.config.max_name_length) {
            Ok(name) => Ok(Some((name, query))),
            Err(e) => {
                self.status(stream_id, bad_name, "invalid name")?;
                Err(SessionError::InvalidName(e).into())
            }
        }
    }

    fn on_publish(
        &mut self,
        stream_id: MessageStreamId,
        command: &CommandMessage,
        app: String,
    ) -> Result<(), Error> {
        let Some((key, query)) =
            self.requested_name(stream_id, command, PUBLISH_REFUSALS, StreamKey::new)?
        else {
            return Ok(());
        };
        let request = self.new_request(stream_id);
        self.streams.insert(
            stream_id.0,
            StreamState::PublishPending {
                request,
                key: key.clone(),
                early: Vec::new(),
                early_bytes: 0,
            },
        );
        let publish_type = PublishParams::from_command(command)
            .map(|p| p.publish_type)
            .unwrap_or_default();
        self.events.push_back(ServerEvent::PublishRequested {
            request,
            stream_id,
            app,
            key,
            query,
            publish_type,
        });
        Ok(())
    }

    fn on_play(
        &mut self,
        stream_id: MessageStreamId,
        command: &CommandMessage,
        app: String,
    ) -> Result<(), Error> {
        let Some((name, query)) =
            self.requested_name(stream_id, command, PLAY_REFUSALS, StreamName::new)?
        else {
            return Ok(());
        };
        let request = self.new_request(stream_id);
        let state = StreamState::PlayPending {
            request,
            name: name.clone(),
        };
        self.streams.insert(stream_id.0, state);
        self.events.push_back(ServerEvent::PlayRequested {
            request,
            stream_id,
            app,
            name,
            query,
        });
        Ok(())
    }

    fn new_request(&mut self, stream_id: MessageStreamId) -> RequestId {
        let request = RequestId(self.next_request);
        self.next_request += 1;
        self.requests.insert(request, stream_id);
        request
    }
}
