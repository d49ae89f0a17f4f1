//! The capture file: classic pcap (little-endian, microsecond timestamps) or pcapng (one
//! section, one Ethernet interface named `eth0` with nanosecond timestamps, the resolution
//! `pcap-file` writes Enhanced Packet Blocks in), both with snaplen 262144. Written by
//! `pcap-file`.

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::blocks::section_header::SectionHeaderBlock;
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::{DataLink, Endianness, TsResolution};
use std::borrow::Cow;
use std::io::{self, Write};
use std::time::Duration;

const SNAPLEN: u32 = 262_144;

pub(crate) enum Sink<W: Write> {
    Pcap(PcapWriter<W>),
    PcapNg(PcapNgWriter<W>),
}

fn io_error(e: pcap_file::PcapError) -> io::Error {
    match e {
        pcap_file::PcapError::IoError(e) => e,
        other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
    }
}

impl<W: Write> Sink<W> {
    pub(crate) fn new(out: W, pcapng: bool) -> io::Result<Self> {
        if pcapng {
            let section = SectionHeaderBlock {
                endianness: Endianness::Little,
                ..Default::default()
            };
            let mut w = PcapNgWriter::with_section_header(out, section).map_err(io_error)?;
            w.write_pcapng_block(InterfaceDescriptionBlock {
                linktype: DataLink::ETHERNET,
                snaplen: SNAPLEN,
                options: vec![
                    InterfaceDescriptionOption::IfName(Cow::Borrowed("eth0")),
                    InterfaceDescriptionOption::IfTsResol(9),
                ],
            })
            .map_err(io_error)?;
            Ok(Sink::PcapNg(w))
        } else {
            let header = PcapHeader {
                snaplen: SNAPLEN,
                datalink: DataLink::ETHERNET,
                ts_resolution: TsResolution::MicroSecond,
                endianness: Endianness::Little,
                ..Default::default()
            };
            Ok(Sink::Pcap(
                PcapWriter::with_header(out, header).map_err(io_error)?,
            ))
        }
    }

    /// Writes one frame captured `epoch_us` microseconds after the Unix epoch.
    pub(crate) fn write(&mut self, epoch_us: u64, frame: &[u8]) -> io::Result<()> {
        let timestamp = Duration::from_micros(epoch_us);
        let len = frame.len() as u32;
        match self {
            Sink::Pcap(w) => w
                .write_packet(&PcapPacket::new(timestamp, len, frame))
                .map(drop)
                .map_err(io_error),
            Sink::PcapNg(w) => w
                .write_pcapng_block(EnhancedPacketBlock {
                    interface_id: 0,
                    timestamp,
                    original_len: len,
                    data: Cow::Borrowed(frame),
                    options: Vec::new(),
                })
                .map(drop)
                .map_err(io_error),
        }
    }

    pub(crate) fn into_inner(self) -> W {
        match self {
            Sink::Pcap(w) => w.into_writer(),
            Sink::PcapNg(w) => w.into_inner(),
        }
    }
}
