//! Reading a v1 update's struct section exactly as yrs's decoder reads it, without applying it:
//! what the guards in [`crate::apply`] need to know before (and after) yrs integrates an update.

/// What a v1 update's struct section holds that yrs 0.28 mishandles, read with yrs's own decoder
/// exactly as `Update::decode_v1` reads the blocks.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StructScan {
    /// Why the actor refuses this update from a client, if it does (all found by the fuzzer):
    /// - a client listed twice (its clocks start over): yrs integrates that by freeing a block
    ///   still linked into the document, a use-after-free under AddressSanitizer. Yjs and yrs
    ///   encoders list each client once;
    /// - legacy JSON content (Yjs 12; Yjs 13 writes `Any`): yrs 0.28 reads one string more than
    ///   the count it writes, so a document holding it encodes into a state nobody can read back,
    ///   and every joiner's sync fails;
    /// - a content number above 15: yrs keeps only its low four bits, so the block means one
    ///   thing to yrs and is an error to every Yjs client it is relayed to;
    /// - a block or deletion reaching clock 2^32: yrs's u32 clocks wrap (a panic in a debug
    ///   build), and the wrapped blocks make every later state encoding panic;
    /// - an item whose left and right origins are the same character (one replica puts it after
    ///   that character, another before), or that refers to itself. Yjs writes neither.
    pub refused: Option<&'static str>,
    /// Skip structs (gaps in a client's clocks): legitimate in a client's sync step 2 when it
    /// holds structs whose dependencies it lacks. But a state encoding that holds them reloads
    /// as an empty document in yrs 0.28 (found by the convergence property test), so no such
    /// state is stored as a snapshot.
    pub skips: bool,
    /// Where the delete set starts: `bytes[..deletes_at]` is the struct section.
    pub deletes_at: usize,
    /// The shared types (elements, nested texts and maps) the update adds, for
    /// `apply::check_nesting`.
    pub elements: Vec<yrs::ID>,
    /// The items with an origin, for `apply::check_placements` (those with both) and
    /// `apply::check_parents`.
    pub placed: Vec<Placed>,
}

/// An item and its origins, as its update names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    pub item: yrs::ID,
    pub len: u32,
    pub left: Option<yrs::ID>,
    pub right: Option<yrs::ID>,
}

pub fn scan_structs(bytes: &[u8]) -> Result<StructScan, yrs::error::Error> {
    walk_structs(bytes, None)
}

/// The struct section of an encoded state with every item made visible: deleted content and
/// formatting marks become text of the same length, and there are no deletions. Loaded into a
/// fresh document, its items integrate where the state's do (YATA looks at origins and clients,
/// never at content), and each has an offset of its own. `None` if the state is refused.
pub(crate) fn shown_state(state: &[u8]) -> Option<Vec<u8>> {
    use yrs::encoding::write::Write;
    use yrs::updates::encoder::{Encoder, EncoderV1};
    let mut out = EncoderV1::new();
    let scan = walk_structs(state, Some(&mut out)).ok()?;
    if scan.refused.is_some() {
        return None;
    }
    out.write_var(0u32); // no deletions
    Some(out.to_vec())
}

/// [`scan_structs`], and with `out`, writes the struct section as [`shown_state`] describes.
fn walk_structs(
    bytes: &[u8],
    mut out: Option<&mut yrs::updates::encoder::EncoderV1>,
) -> Result<StructScan, yrs::error::Error> {
    use yrs::block::{
        ItemContent, BLOCK_GC_REF_NUMBER, BLOCK_ITEM_DELETED_REF_NUMBER,
        BLOCK_ITEM_FORMAT_REF_NUMBER, BLOCK_ITEM_JSON_REF_NUMBER, BLOCK_ITEM_STRING_REF_NUMBER,
        BLOCK_ITEM_TYPE_REF_NUMBER, BLOCK_SKIP_REF_NUMBER, HAS_ORIGIN, HAS_PARENT_SUB,
        HAS_RIGHT_ORIGIN,
    };
    use yrs::encoding::read::Read;
    use yrs::encoding::write::Write;
    use yrs::updates::decoder::{Decoder, DecoderV1};
    use yrs::updates::encoder::Encoder;
    let mut d = DecoderV1::from(bytes);
    let mut scan = StructScan::default();
    let clients: u32 = d.read_var()?;
    if let Some(e) = out.as_mut() {
        e.write_var(clients);
    }
    let mut seen = std::collections::HashSet::new();
    for _ in 0..clients {
        let blocks: u32 = d.read_var()?;
        let client = d.read_client()?;
        if !seen.insert(client) {
            scan.refused = Some("a client listed twice");
            return Ok(scan);
        }
        let start: u32 = d.read_var()?;
        if let Some(e) = out.as_mut() {
            e.write_var(blocks);
            e.write_client(client);
            e.write_var(start);
        }
        let mut clock = u64::from(start);
        for _ in 0..blocks {
            let len = match d.read_info()? {
                info @ (BLOCK_SKIP_REF_NUMBER | BLOCK_GC_REF_NUMBER) => {
                    scan.skips |= info == BLOCK_SKIP_REF_NUMBER;
                    let len = d.read_len()?;
                    if let Some(e) = out.as_mut() {
                        e.write_info(info);
                        e.write_len(len);
                    }
                    len
                }
                info => {
                    let content = info & 0b1_1111;
                    if content == BLOCK_ITEM_JSON_REF_NUMBER {
                        scan.refused = Some("legacy JSON content (Yjs 12)");
                        return Ok(scan);
                    }
                    if content > 0b1111 {
                        scan.refused = Some("an unknown content type");
                        return Ok(scan);
                    }
                    let copies_parent = info & (HAS_ORIGIN | HAS_RIGHT_ORIGIN) != 0;
                    // Deleted content and formatting marks are the invisible kinds.
                    let visible = ![BLOCK_ITEM_DELETED_REF_NUMBER, BLOCK_ITEM_FORMAT_REF_NUMBER]
                        .contains(&content);
                    let kind = if visible {
                        content
                    } else {
                        BLOCK_ITEM_STRING_REF_NUMBER
                    };
                    if let Some(e) = out.as_mut() {
                        e.write_info(info & !0b1_1111 | kind);
                    }
                    let left = (info & HAS_ORIGIN != 0)
                        .then(|| d.read_left_id())
                        .transpose()?;
                    let right = (info & HAS_RIGHT_ORIGIN != 0)
                        .then(|| d.read_right_id())
                        .transpose()?;
                    if let Some(e) = out.as_mut() {
                        left.iter().for_each(|id| e.write_left_id(id));
                        right.iter().for_each(|id| e.write_right_id(id));
                    }
                    let mut parent = None;
                    if !copies_parent {
                        let root = d.read_parent_info()?;
                        if let Some(e) = out.as_mut() {
                            e.write_parent_info(root);
                        }
                        if root {
                            let name = d.read_string()?;
                            if let Some(e) = out.as_mut() {
                                e.write_string(name);
                            }
                        } else {
                            let id = d.read_left_id()?;
                            if let Some(e) = out.as_mut() {
                                e.write_left_id(&id);
                            }
                            parent = Some(id);
                        }
                        if info & HAS_PARENT_SUB != 0 {
                            let key = d.read_string()?;
                            if let Some(e) = out.as_mut() {
                                e.write_string(key);
                            }
                        }
                    }
                    if content == BLOCK_ITEM_TYPE_REF_NUMBER && out.is_none() {
                        scan.elements.push(yrs::ID::new(client, clock as u32));
                    }
                    let item = ItemContent::decode(&mut d, info)?;
                    let len = item.len_utf16();
                    match out.as_mut() {
                        Some(e) if visible => item.encode(*e),
                        Some(e) => e.write_string(&"x".repeat(len as usize)),
                        None => {}
                    }
                    if left.is_some() && left == right {
                        scan.refused = Some("an item whose left and right origins are the same");
                        return Ok(scan);
                    }
                    let within = |id: &yrs::ID| {
                        id.client == client
                            && (clock..clock + u64::from(len)).contains(&u64::from(id.clock))
                    };
                    if [left, right, parent].iter().flatten().any(within) {
                        scan.refused = Some("an item that refers to itself");
                        return Ok(scan);
                    }
                    if left.is_some() || right.is_some() {
                        let item = yrs::ID::new(client, clock as u32);
                        scan.placed.push(Placed {
                            item,
                            len,
                            left,
                            right,
                        });
                    }
                    len
                }
            };
            clock += u64::from(len);
            if clock > u64::from(u32::MAX) {
                scan.refused = Some("clocks past 2^32");
                return Ok(scan);
            }
        }
    }
    let deletes = d.read_to_end()?;
    scan.deletes_at = bytes.len() - deletes.len();
    let mut d = DecoderV1::from(deletes);
    let deleting: u32 = d.read_var()?;
    for _ in 0..deleting {
        d.reset_ds_cur_val();
        let _client: u64 = d.read_var()?;
        let ranges: u32 = d.read_var()?;
        for _ in 0..ranges {
            if u64::from(d.read_ds_clock()?) + u64::from(d.read_ds_len()?) > u64::from(u32::MAX) {
                scan.refused = Some("clocks past 2^32");
                return Ok(scan);
            }
        }
    }
    Ok(scan)
}
