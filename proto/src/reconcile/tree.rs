//! The maintained set: an in-memory B+ tree over [`Item`]s whose internal
//! nodes carry, for every child, the child's item count and the 256-bit sum
//! of its ids. Every range summary (count and sum, hence fingerprint) is two
//! root-to-leaf walks: O(log n), never a scan of the range.
//!
//! Leaves hold up to [`LEAF_CAPACITY`] items (40 bytes each) and internal
//! nodes up to [`INTERNAL_CAPACITY`] children, so at 10^6 items a tree built
//! from a sorted iterator costs about 42 bytes per item (see
//! [`Tree::heap_bytes`]).

use std::cmp::Ordering;

use sha2::{Digest, Sha256};

use crate::codec::Writer;
use crate::types::DocId;

/// Maximum number of items in a leaf.
pub const LEAF_CAPACITY: usize = 64;
/// Maximum number of children of an internal node.
pub const INTERNAL_CAPACITY: usize = 64;
/// A non-root node with fewer entries than this is merged with, or topped
/// up from, a sibling after a removal.
const MIN_FILL: usize = 16;

/// One element of the reconciled set: a document's timestamp and id.
/// Items are ordered by timestamp, then id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Item {
    /// Creation time of the document (milliseconds since the Unix epoch in
    /// chapar, but any `u64` works).
    pub timestamp: u64,
    /// The document's id.
    pub id: DocId,
}

impl Item {
    /// The smallest possible item.
    pub const MIN: Item = Item {
        timestamp: 0,
        id: DocId([0; 32]),
    };

    /// An item.
    pub fn new(timestamp: u64, id: DocId) -> Item {
        Item { timestamp, id }
    }
}

/// A position in the item order: `At(x)` lies just below `x` (so the range
/// `[At(x), ..)` starts with `x`), `Infinity` lies above every item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Bound {
    /// Just below this item (an item `i` is below the bound iff `i < x`).
    At(Item),
    /// Above every item.
    Infinity,
}

impl Bound {
    /// The lowest bound: nothing is below it.
    pub const MIN: Bound = Bound::At(Item::MIN);

    /// Whether `item` lies below this bound.
    pub fn is_above(&self, item: &Item) -> bool {
        match self {
            Bound::At(x) => item < x,
            Bound::Infinity => true,
        }
    }

    /// The shortest bound `b` with `lo < b <= hi` (for consecutive items
    /// `lo < hi`). When the timestamps differ it is a timestamp alone, the
    /// one in `(lo, hi]` with the most trailing zero bits (cheapest to
    /// encode); else `hi`'s timestamp and `hi`'s id cut just after the
    /// first byte where it differs from `lo`'s.
    pub fn between(lo: &Item, hi: &Item) -> Bound {
        let mut id = [0u8; 32];
        if lo.timestamp < hi.timestamp {
            // Highest bit where they differ: `hi` has a one there, `lo` a
            // zero; clearing everything below it stays above `lo`.
            let h = 63 - (lo.timestamp ^ hi.timestamp).leading_zeros();
            let ts = (hi.timestamp >> h) << h;
            return Bound::At(Item {
                timestamp: ts,
                id: DocId(id),
            });
        }
        if lo.timestamp == hi.timestamp {
            let common = lo
                .id
                .0
                .iter()
                .zip(hi.id.0.iter())
                .take_while(|(a, b)| a == b)
                .count();
            let keep = (common + 1).min(32);
            id[..keep].copy_from_slice(&hi.id.0[..keep]);
        }
        Bound::At(Item {
            timestamp: hi.timestamp,
            id: DocId(id),
        })
    }
}

/// A 256-bit unsigned integer modulo 2^256, as four little-endian 64-bit
/// limbs: the sum of a range's ids, each read as a little-endian number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Sum(pub [u64; 4]);

impl Sum {
    fn limbs(id: &DocId) -> [u64; 4] {
        let mut out = [0u64; 4];
        for (i, limb) in out.iter_mut().enumerate() {
            let mut b = [0u8; 8];
            b.copy_from_slice(&id.0[8 * i..8 * i + 8]);
            *limb = u64::from_le_bytes(b);
        }
        out
    }

    fn add_limbs(&mut self, o: &[u64; 4]) {
        let mut carry = false;
        for (a, b) in self.0.iter_mut().zip(o) {
            let (s1, c1) = a.overflowing_add(*b);
            let (s2, c2) = s1.overflowing_add(u64::from(carry));
            *a = s2;
            carry = c1 | c2;
        }
    }

    fn sub_limbs(&mut self, o: &[u64; 4]) {
        let mut borrow = false;
        for (a, b) in self.0.iter_mut().zip(o) {
            let (s1, c1) = a.overflowing_sub(*b);
            let (s2, c2) = s1.overflowing_sub(u64::from(borrow));
            *a = s2;
            borrow = c1 | c2;
        }
    }

    /// Adds an id (mod 2^256).
    pub fn add_id(&mut self, id: &DocId) {
        self.add_limbs(&Self::limbs(id));
    }

    /// Subtracts an id (mod 2^256).
    pub fn sub_id(&mut self, id: &DocId) {
        self.sub_limbs(&Self::limbs(id));
    }

    /// Adds another sum (mod 2^256).
    pub fn add(&mut self, o: &Sum) {
        self.add_limbs(&o.0);
    }

    /// `self - o` (mod 2^256).
    pub fn minus(&self, o: &Sum) -> Sum {
        let mut s = *self;
        s.sub_limbs(&o.0);
        s
    }

    /// The 32 little-endian bytes.
    pub fn to_le_bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, limb) in self.0.iter().enumerate() {
            out[8 * i..8 * i + 8].copy_from_slice(&limb.to_le_bytes());
        }
        out
    }
}

/// A range's fingerprint: the first 16 bytes of
/// `SHA-256(sum of ids mod 2^256, 32 bytes little-endian || varint(count))`.
pub type Fingerprint = [u8; 16];

/// Count and id sum of a set of items.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Summary {
    /// Number of items.
    pub count: u64,
    /// Sum of their ids mod 2^256.
    pub sum: Sum,
}

impl Summary {
    fn add_item(&mut self, item: &Item) {
        self.count += 1;
        self.sum.add_id(&item.id);
    }

    fn sub_item(&mut self, item: &Item) {
        self.count = self.count.saturating_sub(1);
        self.sum.sub_id(&item.id);
    }

    fn add(&mut self, o: &Summary) {
        self.count += o.count;
        self.sum.add(&o.sum);
    }

    /// The summary of `self \ o`, for `o` a subset of `self`.
    pub fn minus(&self, o: &Summary) -> Summary {
        Summary {
            count: self.count.saturating_sub(o.count),
            sum: self.sum.minus(&o.sum),
        }
    }

    /// The summary of a list of items.
    pub fn of<'a>(items: impl IntoIterator<Item = &'a Item>) -> Summary {
        let mut s = Summary::default();
        for it in items {
            s.add_item(it);
        }
        s
    }

    /// The range fingerprint (see [`Fingerprint`]).
    pub fn fingerprint(&self) -> Fingerprint {
        let mut w = Writer::with_capacity(10);
        w.varint(self.count);
        let mut h = Sha256::new();
        h.update(self.sum.to_le_bytes());
        h.update(w.into_bytes());
        let digest = h.finalize();
        let mut out = [0u8; 16];
        out.copy_from_slice(&digest[..16]);
        out
    }
}

#[derive(Clone, Debug)]
enum Node {
    Leaf(Vec<Item>),
    Internal(Vec<Child>),
}

#[derive(Clone, Debug)]
struct Child {
    /// Smallest item of the subtree (routing key).
    first: Item,
    /// Count and sum of the subtree.
    summary: Summary,
    node: Box<Node>,
}

impl Node {
    fn len(&self) -> usize {
        match self {
            Node::Leaf(v) => v.len(),
            Node::Internal(v) => v.len(),
        }
    }

    fn first(&self) -> Option<Item> {
        match self {
            Node::Leaf(v) => v.first().copied(),
            Node::Internal(v) => v.first().map(|c| c.first),
        }
    }

    fn summary(&self) -> Summary {
        match self {
            Node::Leaf(v) => Summary::of(v),
            Node::Internal(v) => {
                let mut s = Summary::default();
                for c in v {
                    s.add(&c.summary);
                }
                s
            }
        }
    }

    fn into_child(self) -> Child {
        Child {
            first: self.first().unwrap_or(Item::MIN),
            summary: self.summary(),
            node: Box::new(self),
        }
    }
}

impl Child {
    fn refresh(&mut self) {
        self.first = self.node.first().unwrap_or(self.first);
        self.summary = self.node.summary();
    }
}

fn child_index(children: &[Child], item: &Item) -> usize {
    children
        .partition_point(|c| c.first <= *item)
        .saturating_sub(1)
}

/// Inserts `v` at `pos` of a vector holding at most `cap` entries; when it
/// is full, splits it first and returns the right half. Appending at the end
/// keeps the left half full (append-mostly workloads stay dense).
///
/// Node vectors grow [`SLACK`] entries at a time rather than doubling, so a
/// half-full node does not hold a full node's memory.
fn insert_split<T>(v: &mut Vec<T>, pos: usize, x: T, cap: usize) -> Option<Vec<T>> {
    if v.len() < cap {
        if v.len() == v.capacity() {
            v.reserve_exact(SLACK.min(cap - v.len()));
        }
        v.insert(pos, x);
        return None;
    }
    let mid = if pos >= v.len() { cap } else { cap / 2 };
    let mut right = Vec::with_capacity((cap - mid + SLACK).min(cap));
    right.extend(v.drain(mid..));
    if pos <= mid && mid < cap {
        v.insert(pos, x);
    } else {
        right.insert(pos - mid, x);
    }
    v.shrink_to((v.len() + SLACK).min(cap));
    Some(right)
}

/// Growth step of node vectors.
const SLACK: usize = 8;

/// Gives back memory a shrinking node no longer needs.
fn trim<T>(v: &mut Vec<T>) {
    if v.capacity() - v.len() > 2 * SLACK {
        v.shrink_to(v.len() + SLACK);
    }
}

/// Inserts into the subtree; `None` if already present, else the new right
/// sibling if the node split.
fn insert_rec(node: &mut Node, item: Item) -> Option<Option<Node>> {
    match node {
        Node::Leaf(items) => {
            let pos = items.binary_search(&item).err()?;
            Some(insert_split(items, pos, item, LEAF_CAPACITY).map(Node::Leaf))
        }
        Node::Internal(children) => {
            let idx = child_index(children, &item);
            let split = insert_rec(&mut children[idx].node, item)?;
            let c = &mut children[idx];
            match split {
                None => {
                    c.summary.add_item(&item);
                    if item < c.first {
                        c.first = item;
                    }
                    Some(None)
                }
                Some(right) => {
                    c.refresh();
                    let right = right.into_child();
                    Some(
                        insert_split(children, idx + 1, right, INTERNAL_CAPACITY)
                            .map(Node::Internal),
                    )
                }
            }
        }
    }
}

/// Evens out two adjacent vectors, or merges them when they fit in one
/// node. Returns whether `b` was emptied into `a`.
fn rebalance_pair<T>(a: &mut Vec<T>, b: &mut Vec<T>, cap: usize) -> bool {
    let total = a.len() + b.len();
    if total <= cap {
        a.append(b);
        return true;
    }
    match a.len().cmp(&b.len()) {
        Ordering::Less => {
            let k = (b.len() - a.len()) / 2;
            a.extend(b.drain(..k));
        }
        Ordering::Greater => {
            let k = (a.len() - b.len()) / 2;
            let tail: Vec<T> = a.drain(a.len() - k..).collect();
            b.splice(0..0, tail);
        }
        Ordering::Equal => {}
    }
    false
}

fn remove_rec(node: &mut Node, item: &Item) -> bool {
    match node {
        Node::Leaf(items) => match items.binary_search(item) {
            Ok(pos) => {
                items.remove(pos);
                trim(items);
                true
            }
            Err(_) => false,
        },
        Node::Internal(children) => {
            let idx = child_index(children, item);
            if !remove_rec(&mut children[idx].node, item) {
                return false;
            }
            let c = &mut children[idx];
            c.summary.sub_item(item);
            if c.first == *item {
                c.first = c.node.first().unwrap_or(c.first);
            }
            if c.node.len() < MIN_FILL && children.len() > 1 {
                let l = if idx + 1 < children.len() {
                    idx
                } else {
                    idx - 1
                };
                let (left, right) = children.split_at_mut(l + 1);
                let (a, b) = (&mut left[l], &mut right[0]);
                let merged = match (&mut *a.node, &mut *b.node) {
                    (Node::Leaf(x), Node::Leaf(y)) => rebalance_pair(x, y, LEAF_CAPACITY),
                    (Node::Internal(x), Node::Internal(y)) => {
                        rebalance_pair(x, y, INTERNAL_CAPACITY)
                    }
                    // Siblings are always at the same depth.
                    _ => false,
                };
                a.refresh();
                if merged {
                    children.remove(l + 1);
                    trim(children);
                } else {
                    b.refresh();
                }
            }
            true
        }
    }
}

/// An ordered set of [`Item`]s with O(log n) rank, select and range
/// summaries (count and id sum), the structure reconciliation runs on.
///
/// Maintain one per peer class (the set a peer is entitled to), insert each
/// document as it is stored, and rebuild it at start-up with
/// [`Tree::from_sorted`] from the store's `(timestamp, id)` index.
#[derive(Clone, Debug)]
pub struct Tree {
    root: Node,
    total: Summary,
}

impl Default for Tree {
    fn default() -> Self {
        Tree::new()
    }
}

/// [`Tree::from_sorted`] was given items that are not strictly ascending.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("items are not strictly ascending at position {position}")]
pub struct UnsortedInput {
    /// Index of the first item not greater than its predecessor.
    pub position: usize,
}

impl Tree {
    /// An empty tree.
    pub fn new() -> Tree {
        Tree {
            root: Node::Leaf(Vec::new()),
            total: Summary::default(),
        }
    }

    /// Builds a tree in O(n) from strictly ascending items, with full nodes
    /// (the last two nodes of each level evened out).
    pub fn from_sorted(items: impl IntoIterator<Item = Item>) -> Result<Tree, UnsortedInput> {
        let mut level: Vec<Child> = Vec::new();
        let mut leaf: Vec<Item> = Vec::with_capacity(LEAF_CAPACITY);
        let mut prev: Option<Item> = None;
        for (position, item) in items.into_iter().enumerate() {
            if prev.is_some_and(|p| p >= item) {
                return Err(UnsortedInput { position });
            }
            prev = Some(item);
            if leaf.len() == LEAF_CAPACITY {
                let full = std::mem::replace(&mut leaf, Vec::with_capacity(LEAF_CAPACITY));
                level.push(Node::Leaf(full).into_child());
            }
            leaf.push(item);
        }
        if level.is_empty() {
            let root = Node::Leaf(leaf);
            let total = root.summary();
            return Ok(Tree { root, total });
        }
        if !leaf.is_empty() {
            level.push(Node::Leaf(leaf).into_child());
        }
        even_last_pair(&mut level);
        while level.len() > INTERNAL_CAPACITY {
            let mut next = Vec::with_capacity(level.len() / INTERNAL_CAPACITY + 1);
            let mut it = level.into_iter().peekable();
            while it.peek().is_some() {
                let mut group = Vec::with_capacity(INTERNAL_CAPACITY);
                group.extend(it.by_ref().take(INTERNAL_CAPACITY));
                next.push(Node::Internal(group).into_child());
            }
            even_last_pair(&mut next);
            level = next;
        }
        let root = if level.len() == 1 {
            match level.pop() {
                Some(c) => *c.node,
                None => Node::Leaf(Vec::new()),
            }
        } else {
            Node::Internal(level)
        };
        let total = root.summary();
        Ok(Tree { root, total })
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.total.count as usize
    }

    /// Whether the tree holds no item.
    pub fn is_empty(&self) -> bool {
        self.total.count == 0
    }

    /// Count and id sum of the whole set.
    pub fn total(&self) -> Summary {
        self.total
    }

    /// Inserts an item; `false` if it was already present. O(log n).
    pub fn insert(&mut self, item: Item) -> bool {
        match insert_rec(&mut self.root, item) {
            None => false,
            Some(split) => {
                if let Some(right) = split {
                    let left = std::mem::replace(&mut self.root, Node::Leaf(Vec::new()));
                    let mut children = Vec::with_capacity(INTERNAL_CAPACITY);
                    children.push(left.into_child());
                    children.push(right.into_child());
                    self.root = Node::Internal(children);
                }
                self.total.add_item(&item);
                true
            }
        }
    }

    /// Removes an item; `false` if it was absent. O(log n).
    pub fn remove(&mut self, item: &Item) -> bool {
        if !remove_rec(&mut self.root, item) {
            return false;
        }
        self.total.sub_item(item);
        // Collapse a root left with a single child.
        loop {
            match &mut self.root {
                Node::Internal(children) if children.len() == 1 => {
                    let only = match children.pop() {
                        Some(c) => *c.node,
                        None => Node::Leaf(Vec::new()),
                    };
                    self.root = only;
                }
                _ => break,
            }
        }
        true
    }

    /// Whether the item is present. O(log n).
    pub fn contains(&self, item: &Item) -> bool {
        let mut node = &self.root;
        loop {
            match node {
                Node::Leaf(items) => return items.binary_search(item).is_ok(),
                Node::Internal(ch) => {
                    if ch.is_empty() {
                        return false;
                    }
                    node = &ch[child_index(ch, item)].node;
                }
            }
        }
    }

    /// Count and sum of the items below `bound`. O(log n).
    pub fn prefix(&self, bound: &Bound) -> Summary {
        if *bound == Bound::Infinity {
            return self.total;
        }
        let mut acc = Summary::default();
        let mut node = &self.root;
        loop {
            match node {
                Node::Leaf(items) => {
                    let k = items.partition_point(|it| bound.is_above(it));
                    acc.add(&Summary::of(&items[..k]));
                    return acc;
                }
                Node::Internal(ch) => {
                    let p = ch.partition_point(|c| bound.is_above(&c.first));
                    if p == 0 {
                        return acc;
                    }
                    for c in &ch[..p - 1] {
                        acc.add(&c.summary);
                    }
                    node = &ch[p - 1].node;
                }
            }
        }
    }

    /// Number of items below `bound`. O(log n).
    pub fn rank(&self, bound: &Bound) -> usize {
        if *bound == Bound::Infinity {
            return self.len();
        }
        let mut acc = 0usize;
        let mut node = &self.root;
        loop {
            match node {
                Node::Leaf(items) => {
                    return acc + items.partition_point(|it| bound.is_above(it));
                }
                Node::Internal(ch) => {
                    let p = ch.partition_point(|c| bound.is_above(&c.first));
                    if p == 0 {
                        return acc;
                    }
                    for c in &ch[..p - 1] {
                        acc += c.summary.count as usize;
                    }
                    node = &ch[p - 1].node;
                }
            }
        }
    }

    /// Count and sum of the first `rank` items (all of them if `rank`
    /// exceeds the length). O(log n).
    pub fn prefix_by_rank(&self, rank: usize) -> Summary {
        if rank >= self.len() {
            return self.total;
        }
        let mut acc = Summary::default();
        let mut left = rank as u64;
        let mut node = &self.root;
        loop {
            match node {
                Node::Leaf(items) => {
                    let k = (left as usize).min(items.len());
                    acc.add(&Summary::of(&items[..k]));
                    return acc;
                }
                Node::Internal(ch) => {
                    let mut next = None;
                    for c in ch {
                        if left < c.summary.count {
                            next = Some(c);
                            break;
                        }
                        left -= c.summary.count;
                        acc.add(&c.summary);
                    }
                    match next {
                        Some(c) => node = &c.node,
                        None => return acc,
                    }
                }
            }
        }
    }

    /// Count and sum of the items in `[lower, upper)`. O(log n).
    pub fn summary(&self, lower: &Bound, upper: &Bound) -> Summary {
        if lower >= upper {
            return Summary::default();
        }
        self.prefix(upper).minus(&self.prefix(lower))
    }

    /// The item of rank `k` (0-based). O(log n).
    pub fn select(&self, k: usize) -> Option<Item> {
        self.iter_from(k).next()
    }

    /// All items in order.
    pub fn iter(&self) -> Iter<'_> {
        self.iter_from(0)
    }

    /// Items in order starting at rank `k`. O(log n) to start, O(1)
    /// amortised per item.
    pub fn iter_from(&self, k: usize) -> Iter<'_> {
        let mut stack = Vec::new();
        let mut left = k;
        let mut node = &self.root;
        loop {
            match node {
                Node::Leaf(items) => {
                    return Iter {
                        stack,
                        leaf: items,
                        pos: left.min(items.len()),
                    };
                }
                Node::Internal(ch) => {
                    let mut idx = ch.len();
                    for (i, c) in ch.iter().enumerate() {
                        if left < c.summary.count as usize {
                            idx = i;
                            break;
                        }
                        left -= c.summary.count as usize;
                    }
                    if idx == ch.len() {
                        // Past the end.
                        return Iter {
                            stack: Vec::new(),
                            leaf: &[],
                            pos: 0,
                        };
                    }
                    stack.push((ch.as_slice(), idx));
                    node = &ch[idx].node;
                }
            }
        }
    }

    /// Items in `[lower, upper)`, in order.
    pub fn range(&self, lower: &Bound, upper: &Bound) -> impl Iterator<Item = Item> + '_ {
        let upper = *upper;
        self.iter_from(self.rank(lower))
            .take_while(move |it| upper.is_above(it))
    }

    /// Heap bytes used by the nodes (allocated capacity, not just length).
    pub fn heap_bytes(&self) -> usize {
        fn walk(n: &Node) -> usize {
            match n {
                Node::Leaf(v) => v.capacity() * std::mem::size_of::<Item>(),
                Node::Internal(v) => {
                    v.capacity() * std::mem::size_of::<Child>()
                        + v.iter()
                            .map(|c| std::mem::size_of::<Node>() + walk(&c.node))
                            .sum::<usize>()
                }
            }
        }
        walk(&self.root)
    }

    /// Checks the structural invariants (sorted, aggregates, routing keys,
    /// balance); for tests. Returns a description of the first violation.
    pub fn check_invariants(&self) -> Result<(), String> {
        fn walk(
            n: &Node,
            is_root: bool,
            depth: usize,
            leaf_depth: &mut Option<usize>,
        ) -> Result<Summary, String> {
            let cap = match n {
                Node::Leaf(_) => LEAF_CAPACITY,
                Node::Internal(_) => INTERNAL_CAPACITY,
            };
            if n.len() > cap {
                return Err(format!("node of {} entries over capacity", n.len()));
            }
            match n {
                Node::Leaf(items) => {
                    if !items.windows(2).all(|w| w[0] < w[1]) {
                        return Err("leaf not strictly ascending".into());
                    }
                    match leaf_depth {
                        Some(d) if *d != depth => return Err("unbalanced".into()),
                        _ => *leaf_depth = Some(depth),
                    }
                    Ok(Summary::of(items))
                }
                Node::Internal(ch) => {
                    if ch.is_empty() || (is_root && ch.len() < 2) {
                        return Err("internal node with too few children".into());
                    }
                    let mut s = Summary::default();
                    let mut last: Option<Item> = None;
                    for c in ch {
                        let cs = walk(&c.node, false, depth + 1, leaf_depth)?;
                        if cs != c.summary {
                            return Err("stale child summary".into());
                        }
                        if c.node.first() != Some(c.first) {
                            return Err("stale routing key".into());
                        }
                        if last.is_some_and(|l| l >= c.first) {
                            return Err("children out of order".into());
                        }
                        last = Some(c.first);
                        s.add(&cs);
                    }
                    Ok(s)
                }
            }
        }
        let mut leaf_depth = None;
        let s = walk(&self.root, true, 0, &mut leaf_depth)?;
        if s != self.total {
            return Err("stale total".into());
        }
        let v: Vec<Item> = self.iter().collect();
        if !v.windows(2).all(|w| w[0] < w[1]) || v.len() != self.len() {
            return Err("iteration not strictly ascending".into());
        }
        Ok(())
    }
}

/// Evens out the last two nodes of a freshly built level so that no node
/// but the root is under-filled.
fn even_last_pair(level: &mut [Child]) {
    let n = level.len();
    if n < 2 {
        return;
    }
    let (left, right) = level.split_at_mut(n - 1);
    let (a, b) = (&mut left[n - 2], &mut right[0]);
    if b.node.len() >= MIN_FILL {
        return;
    }
    match (&mut *a.node, &mut *b.node) {
        (Node::Leaf(x), Node::Leaf(y)) => {
            let k = (x.len() - y.len()) / 2;
            let tail: Vec<Item> = x.drain(x.len() - k..).collect();
            y.splice(0..0, tail);
        }
        (Node::Internal(x), Node::Internal(y)) => {
            let k = (x.len() - y.len()) / 2;
            let tail: Vec<Child> = x.drain(x.len() - k..).collect();
            y.splice(0..0, tail);
        }
        _ => {}
    }
    a.refresh();
    b.refresh();
}

impl FromIterator<Item> for Tree {
    /// Sorts and deduplicates, then builds in O(n).
    fn from_iter<I: IntoIterator<Item = Item>>(iter: I) -> Tree {
        let mut v: Vec<Item> = iter.into_iter().collect();
        v.sort_unstable();
        v.dedup();
        Tree::from_sorted(v).unwrap_or_default()
    }
}

/// In-order iterator over a [`Tree`]'s items.
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    stack: Vec<(&'a [Child], usize)>,
    leaf: &'a [Item],
    pos: usize,
}

impl Iterator for Iter<'_> {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        loop {
            if let Some(it) = self.leaf.get(self.pos) {
                self.pos += 1;
                return Some(*it);
            }
            // Climb to the first ancestor with a next child, then go down
            // its leftmost path.
            loop {
                let (ch, idx) = self.stack.pop()?;
                if idx + 1 < ch.len() {
                    self.stack.push((ch, idx + 1));
                    let mut node: &Node = &ch[idx + 1].node;
                    loop {
                        match node {
                            Node::Leaf(items) => {
                                self.leaf = items;
                                self.pos = 0;
                                break;
                            }
                            Node::Internal(c) => {
                                self.stack.push((c.as_slice(), 0));
                                node = &c[0].node;
                            }
                        }
                    }
                    break;
                }
            }
        }
    }
}
