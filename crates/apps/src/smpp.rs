//! SMPP 3.4 / 5.0: PDUs of `command_length(4) command_id(4) command_status(4)
//! sequence_number(4)` and a body, all big-endian. Either side may send `enquire_link`
//! (0x00000015), answered by `enquire_link_resp` (0x80000015); `unbind` (0x00000006) ends the
//! session. The protocol declares no interval: each side's enquire_link timer is its own.

use crate::event::{Event, Framing};

const HEADER_LEN: usize = 16;
/// PDUs longer than this are not SMPP (the longest, submit_multi with its destinations and a
/// 64 KiB message_payload TLV, stays well below it).
const MAX_PDU: usize = 70_000;
const ENQUIRE_LINK: u32 = 0x0000_0015;
const ENQUIRE_LINK_RESP: u32 = 0x8000_0015;
const UNBIND: u32 = 0x0000_0006;
/// bind_receiver, bind_transmitter, bind_transceiver: what an ESME sends first.
const BINDS: [u32; 3] = [0x0000_0001, 0x0000_0002, 0x0000_0009];

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// The payload opens an SMPP bind: its length is plausible, its status 0, and it is followed
/// by a NUL-terminated printable system_id.
pub(crate) fn starts_bind(p: &[u8]) -> bool {
    if p.len() < HEADER_LEN + 1 {
        return false;
    }
    let len = u32_at(p, 0) as usize;
    if !(HEADER_LEN + 4..=512).contains(&len) || !BINDS.contains(&u32_at(p, 4)) {
        return false;
    }
    if u32_at(p, 8) != 0 {
        return false;
    }
    let body = &p[HEADER_LEN..p.len().min(len)];
    match body.iter().position(|&c| c == 0) {
        Some(n) => n <= 16 && body[..n].iter().all(|c| c.is_ascii_graphic()),
        None => false,
    }
}

pub(crate) fn frame_len(b: &[u8]) -> Framing {
    if b.len() < 4 {
        return Framing::More;
    }
    let len = u32_at(b, 0) as usize;
    if !(HEADER_LEN..=MAX_PDU).contains(&len) {
        return Framing::Broken;
    }
    Framing::Len(len)
}

/// The 16-byte header every PDU starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The PDU's length, header included.
    pub command_length: u32,
    /// What the PDU is; bit 31 marks a response.
    pub command_id: u32,
    /// The outcome, in responses (0 in requests).
    pub command_status: u32,
    /// Pairs a response with its request.
    pub sequence_number: u32,
}

impl Header {
    /// The header at the start of `b`, when `b` holds 16 bytes.
    pub fn parse(b: &[u8]) -> Option<Header> {
        if b.len() < HEADER_LEN {
            return None;
        }
        Some(Header {
            command_length: u32_at(b, 0),
            command_id: u32_at(b, 4),
            command_status: u32_at(b, 8),
            sequence_number: u32_at(b, 12),
        })
    }

    /// True for a response PDU (bit 31 of the command id).
    pub fn is_response(&self) -> bool {
        self.command_id & 0x8000_0000 != 0
    }
}

/// The length of the whole PDU at the start of `b`, or `None` when `b` ends inside it or its
/// length field is not an SMPP length.
pub fn pdu_len(b: &[u8]) -> Option<usize> {
    match frame_len(b) {
        Framing::Len(n) if n <= b.len() => Some(n),
        _ => None,
    }
}

/// True when `b` opens a PDU as SMPP 3.4 defines them: a whole header whose length is at least
/// the header's and at most 64 KiB, a command the specification defines, and a status that is
/// defined or in a reserved or vendor range (0x113..=0x3FF is neither). This is the test that
/// tells SMPP apart in a stream that no port names.
pub fn looks_like_pdu(b: &[u8]) -> bool {
    let Some(h) = Header::parse(b) else {
        return false;
    };
    (HEADER_LEN as u32..=64 * 1024).contains(&h.command_length)
        && command_name(h.command_id).is_some()
        && !(0x113..=0x3ff).contains(&h.command_status)
}

/// The name of a command id, with a response's `- resp` (`Enquire_link - resp`).
pub fn command_name(id: u32) -> Option<&'static str> {
    Some(match id {
        0x0000_0001 => "Bind_receiver",
        0x0000_0002 => "Bind_transmitter",
        0x0000_0003 => "Query_sm",
        0x0000_0004 => "Submit_sm",
        0x0000_0005 => "Deliver_sm",
        0x0000_0006 => "Unbind",
        0x0000_0007 => "Replace_sm",
        0x0000_0008 => "Cancel_sm",
        0x0000_0009 => "Bind_transceiver",
        0x0000_000b => "Outbind",
        0x0000_0015 => "Enquire_link",
        0x0000_0021 => "Submit_multi",
        0x0000_0102 => "Alert_notification",
        0x0000_0103 => "Data_sm",
        0x0000_0111 => "Broadcast_sm",
        0x0000_0112 => "Query_broadcast_sm",
        0x0000_0113 => "Cancel_broadcast_sm",
        0x0100_0001 => "Auth_acc",
        0x0100_0002 => "Sm_result_notify",
        0x8000_0000 => "Generic_nack",
        0x8000_0001 => "Bind_receiver - resp",
        0x8000_0002 => "Bind_transmitter - resp",
        0x8000_0003 => "Query_sm - resp",
        0x8000_0004 => "Submit_sm - resp",
        0x8000_0005 => "Deliver_sm - resp",
        0x8000_0006 => "Unbind - resp",
        0x8000_0007 => "Replace_sm - resp",
        0x8000_0008 => "Cancel_sm - resp",
        0x8000_0009 => "Bind_transceiver - resp",
        0x8000_0015 => "Enquire_link - resp",
        0x8000_0021 => "Submit_multi - resp",
        0x8000_0103 => "Data_sm - resp",
        0x8000_0111 => "Broadcast_sm - resp",
        0x8000_0112 => "Query_broadcast_sm - resp",
        0x8000_0113 => "Cancel_broadcast_sm - resp",
        0x8100_0001 => "Auth_acc - resp",
        0x8100_0002 => "Sm_result_notify - resp",
        _ => return None,
    })
}

/// What a command status means, in SMPP 3.4's words (`Ok`, `Invalid password`); the
/// reserved and vendor ranges by their range.
pub fn status_text(status: u32) -> &'static str {
    match status {
        0x00 => "Ok",
        0x01 => "Message length is invalid",
        0x02 => "Command length is invalid",
        0x03 => "Invalid command ID",
        0x04 => "Incorrect BIND status for given command",
        0x05 => "ESME already in bound state",
        0x06 => "Invalid priority flag",
        0x07 => "Invalid registered delivery flag",
        0x08 => "System error",
        0x0a => "Invalid source address",
        0x0b => "Invalid destination address",
        0x0c => "Message ID is invalid",
        0x0d => "Bind failed",
        0x0e => "Invalid password",
        0x0f => "Invalid system ID",
        0x11 => "Cancel SM failed",
        0x13 => "Replace SM failed",
        0x14 => "Message queue full",
        0x15 => "Invalid service type",
        0x33 => "Invalid number of destinations",
        0x34 => "Invalid distribution list name",
        0x40 => "Destination flag is invalid (submit_multi)",
        0x42 => "Invalid 'submit with replace' request",
        0x43 => "Invalid esm_class field data",
        0x44 => "Cannot submit to distribution list",
        0x45 => "submit_sm or submit_multi failed",
        0x48 => "Invalid source address TON",
        0x49 => "Invalid source address NPI",
        0x50 => "Invalid destination address TON",
        0x51 => "Invalid destination address NPI",
        0x53 => "Invalid system_type field",
        0x54 => "Invalid replace_if_present flag",
        0x55 => "Invalid number of messages",
        0x58 => "Throttling error (ESME exceeded allowed message limits)",
        0x61 => "Invalid scheduled delivery time",
        0x62 => "Invalid message validity period (expiry time)",
        0x63 => "Predefined message invalid or not found",
        0x64 => "ESME receiver temporary app error code",
        0x65 => "ESME receiver permanent app error code",
        0x66 => "ESME receiver reject message error code",
        0x67 => "query_sm request failed",
        0xc0 => "Error in the optional part of the PDU body",
        0xc1 => "Optional parameter not allowed",
        0xc2 => "Invalid parameter length",
        0xc3 => "Expected optional parameter missing",
        0xc4 => "Invalid optional parameter  value",
        0xfe => "(Transaction) Delivery failure (used for data_sm_resp)",
        0xff => "Unknown error",
        0x100 => "ESME Not authorised to use specified service_type.",
        0x101 => "ESME Prohibited from using specified operation.",
        0x102 => "Specified service_type is unavailable.",
        0x103 => "Specified service_type is denied.",
        0x104 => "Invalid Data Coding Scheme.",
        0x105 => "Source Address Sub unit is Invalid.",
        0x106 => "Destination Address Sub unit is Invalid.",
        0x107 => "Broadcast Frequency Interval is invalid.",
        0x108 => "Broadcast Alias Name is invalid.",
        0x109 => "Broadcast Area Format is invalid.",
        0x10a => "Number of Broadcast Areas is invalid.",
        0x10b => "Broadcast Content Type is invalid.",
        0x10c => "Broadcast Message Class is invalid.",
        0x10d => "broadcast_sm operation failed.",
        0x10e => "query_broadcast_sm operation failed.",
        0x10f => "cancel_broadcast_sm operation failed.",
        0x110 => "Number of Repeated Broadcasts is invalid.",
        0x111 => "Broadcast Service Group is invalid.",
        0x112 => "Broadcast Channel Indicator is invalid.",
        0x400..=0x4ff => "[Vendor-specific Error]",
        _ => "[Reserved]",
    }
}

/// The body of a bind (bind_receiver, bind_transmitter, bind_transceiver).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bind<'a> {
    /// The ESME's system id.
    pub system_id: &'a [u8],
    /// Its password.
    pub password: &'a [u8],
    /// Its system type.
    pub system_type: &'a [u8],
    /// The SMPP version it speaks (0x34: 3.4).
    pub interface_version: u8,
    /// Type of number of the address range.
    pub addr_ton: u8,
    /// Numbering plan of the address range.
    pub addr_npi: u8,
    /// The addresses it serves.
    pub address_range: &'a [u8],
}

/// Splits a NUL-terminated string off the front of `b`.
fn c_string<'a>(b: &mut &'a [u8]) -> Option<&'a [u8]> {
    let n = b.iter().position(|&c| c == 0)?;
    let s = &b[..n];
    *b = &b[n + 1..];
    Some(s)
}

impl<'a> Bind<'a> {
    /// The bind in `body` (the PDU after its header); `None` when it is cut short.
    pub fn parse(mut body: &'a [u8]) -> Option<Bind<'a>> {
        let b = &mut body;
        let (system_id, password, system_type) = (c_string(b)?, c_string(b)?, c_string(b)?);
        let [interface_version, addr_ton, addr_npi, ..] = **b else {
            return None;
        };
        *b = &b[3..];
        Some(Bind {
            system_id,
            password,
            system_type,
            interface_version,
            addr_ton,
            addr_npi,
            address_range: c_string(b)?,
        })
    }
}

/// The system id at the front of a bind response's body.
pub fn bind_resp_system_id(mut body: &[u8]) -> Option<&[u8]> {
    c_string(&mut body)
}

/// True for the three bind commands (not their responses).
pub fn is_bind(command_id: u32) -> bool {
    BINDS.contains(&command_id)
}

/// True for the responses to the three bind commands.
pub fn is_bind_resp(command_id: u32) -> bool {
    command_id & 0x8000_0000 != 0 && BINDS.contains(&(command_id & 0x7fff_ffff))
}

#[derive(Debug, Clone, Default)]
pub(crate) struct State;

impl State {
    pub(crate) fn on_message(&mut self, _dir: usize, m: &[u8], on: &mut dyn FnMut(Event<'_>)) {
        on(match u32_at(m, 4) {
            ENQUIRE_LINK => Event::Probe,
            ENQUIRE_LINK_RESP => Event::Reply,
            UNBIND => Event::Goodbye { text: None },
            _ => Event::Message,
        });
    }
}
