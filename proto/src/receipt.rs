//! Receipts: a mission's signed acknowledgement that a cable was delivered
//! to it, or read there.

use crate::codec::{Decode, DecodeError, Encode, Reader, Writer};
use crate::types::{DocId, Id, Marking, code_enum};

code_enum!(
    /// What a receipt acknowledges.
    ReceiptStatus, "receipt status", {
        /// The cable is stored at the receiving mission's node.
        Delivered = 0 => "DELIVERED",
        /// A person at the receiving mission has opened it.
        Read = 1 => "READ",
    }
);

/// Acknowledgement of a cable by a receiving mission, signed by that
/// mission's node (delivered) or by one of its people (read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The cable (draft) acknowledged.
    pub cable: DocId,
    /// The cable's originating mission (which wants the receipt).
    pub originator: Id,
    /// The receiving mission.
    pub mission: Id,
    /// Delivered or read.
    pub status: ReceiptStatus,
    /// The cable's classification and caption: the receipt goes only
    /// where the cable may go ([`Marking::VERSION_1`] in a version-1
    /// document).
    pub marking: Marking,
}

impl Receipt {
    /// The layout of envelope version 1: no marking.
    pub(crate) fn encode_v1(&self, w: &mut Writer) {
        self.cable.encode(w);
        self.originator.encode(w);
        self.mission.encode(w);
        self.status.encode(w);
    }

    /// Reads the layout of envelope version 1; the marking is
    /// [`Marking::VERSION_1`].
    pub(crate) fn decode_v1(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Receipt {
            cable: DocId::decode(r)?,
            originator: Id::decode(r)?,
            mission: Id::decode(r)?,
            status: ReceiptStatus::decode(r)?,
            marking: Marking::VERSION_1,
        })
    }
}

impl Encode for Receipt {
    fn encode(&self, w: &mut Writer) {
        self.encode_v1(w);
        self.marking.encode(w);
    }
}

impl Decode for Receipt {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut v = Receipt::decode_v1(r)?;
        v.marking = Marking::decode(r)?;
        Ok(v)
    }
}
