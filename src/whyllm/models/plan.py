"""How many related sequences are scored at once: a prefix tree over token ids, run in token-bounded
batches.

The rows an explanation scores are one prompt with features removed, so many of them begin with the
same tokens: leave-one-out sample *i* shares its first *i* features with the full input, a random
mask shares the head up to its first removed feature. A causal model's state at a position depends
only on the tokens before it, so the key/value state of a shared head can be computed once and
attended to by every row below it. AttriBoT (Liu et al., ICLR 2025, "AttriBoT: A Bag of Tricks for
Efficiently Approximating Leave-One-Out Context Attribution") builds its leave-one-out speed-up on
this; the attention over a shared head is split from the attention over each row's own tokens as in
Hydragen (Juravsky et al. 2024, "Hydragen: High-Throughput LLM Inference with Shared Prefixes").

:class:`PrefixTree` is a radix tree over the distinct rows (prompt + continuation[:-1]): each node is
a run of tokens at fixed absolute positions, whose parent chain is the row's head. Nodes longer than
the token budget are cut into chains (chunked prefill), and a node whose sharing would save fewer
than ``min_saved`` tokens is folded into its children (a separate segment costs more than it saves).
:class:`Schedule` hands out batches of nodes whose parents are done, at most ``max_tokens`` tokens
each, in depth-first order so that finished rows (and the cache entries they complete) come early and
stored states are released soon. Everything here is model-agnostic: a backend only runs a batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from whyllm.models.score_request import ScoreRequest


@dataclass(frozen=True)
class Output:
    """One log-prob a request needs: the distribution after ``offset`` tokens of a node, read at
    ``token``; ``request`` and ``index`` say where it goes."""

    offset: int
    token: int
    request: int
    index: int


@dataclass(eq=False)
class Node:
    """A run of ``tokens`` at absolute positions ``start ...``, attending to its parent chain."""

    start: int
    tokens: tuple[int, ...]
    parent: Node | None = None
    children: list[Node] = field(default_factory=list)
    outputs: list[Output] = field(default_factory=list)
    order: int = 0

    @property
    def end(self) -> int:
        return self.start + len(self.tokens)

    def __len__(self) -> int:
        return len(self.tokens)

    def row(self) -> tuple[int, ...]:
        """Every token from position 0 to this node's end (its ancestors' tokens, then its own)."""
        parts, node = [], self
        while node is not None:
            parts.append(node.tokens)
            node = node.parent
        return tuple(t for part in reversed(parts) for t in part)

    def split(self, at: int) -> Node:
        """Cut this node at absolute position ``at``: returns the new head (which takes this node's
        place under its parent); this node keeps the tail."""
        k = at - self.start
        head = Node(self.start, self.tokens[:k], self.parent, [self],
                    [o for o in self.outputs if o.offset < k])
        if self.parent is not None:
            self.parent.children[self.parent.children.index(self)] = head
        self.outputs = [Output(o.offset - k, o.token, o.request, o.index)
                        for o in self.outputs if o.offset >= k]
        self.start, self.tokens, self.parent = at, self.tokens[k:], head
        return head


class PrefixTree:
    """Radix tree over the rows of ``requests``; ``nodes`` lists every node with tokens, parents
    before children (depth-first, in the sorted order of the rows)."""

    def __init__(self, requests: Sequence[ScoreRequest], share: bool = True, max_segment: int | None = None,
                 min_saved: int = 4) -> None:
        rows: dict[tuple[int, ...], list[tuple[int, ScoreRequest]]] = {}
        for k, r in enumerate(requests):
            rows.setdefault(r.prompt + r.continuation[:-1], []).append((k, r))
        self.root = Node(0, ())
        self.n_rows = len(rows)
        self.row_tokens = sum(len(seq) for seq in rows)
        ordered = sorted(rows) if share else list(rows)
        if any(not r.prompt for r in requests):  # LanguageModel.score puts a context start there
            raise ValueError("a request with an empty prompt has no position to predict its first token "
                             "from")
        for seq in ordered:
            leaf = self._insert(seq, share)
            for k, r in rows[seq]:
                for j, tok in enumerate(r.continuation):
                    self._attach(leaf, len(r.prompt) - 1 + j, Output(0, tok, k, j))
        if share:
            self._fold(min_saved)
        if max_segment:
            self._chunk(max_segment)
        self.nodes = [n for n in self._walk(self.root) if n is not self.root]
        for i, n in enumerate(self.nodes):
            n.order = i

    @property
    def tokens(self) -> int:
        """Token positions the tree computes (shared heads once)."""
        return sum(len(n) for n in self.nodes)

    def _insert(self, seq: tuple[int, ...], share: bool) -> Node:
        node, depth = self.root, 0
        while share:
            nxt = next((c for c in node.children if c.tokens[0] == seq[depth]), None) \
                if depth < len(seq) else None
            if nxt is None:
                break
            k = len(nxt)
            if seq[depth:depth + k] != nxt.tokens:  # the common part, compared token by token
                k = 0
                while k < len(nxt) and depth + k < len(seq) and nxt.tokens[k] == seq[depth + k]:
                    k += 1
            if k < len(nxt):
                nxt = nxt.split(nxt.start + k)
            node, depth = nxt, depth + k
        if depth == len(seq):
            return node
        leaf = Node(depth, seq[depth:], node)
        node.children.append(leaf)
        return leaf

    @staticmethod
    def _attach(leaf: Node, pos: int, out: Output) -> None:
        node = leaf
        while node.start > pos:
            node = node.parent
        node.outputs.append(Output(pos - node.start, out.token, out.request, out.index))

    def _fold(self, min_saved: int) -> None:
        """Fold shared runs that save fewer than ``min_saved`` tokens into their children (children
        before parents, so a folded run can fold again into its grandchildren's runs)."""
        for node in reversed(list(self._walk(self.root))):
            if node is self.root or not node.children or (len(node.children) - 1) * len(node) >= min_saved:
                continue
            parent, k = node.parent, len(node)
            at = parent.children.index(node)
            for i, child in enumerate(node.children):
                shifted = [Output(o.offset + k, o.token, o.request, o.index) for o in child.outputs]
                child.outputs = (node.outputs if i == 0 else []) + shifted  # computed once, by the first
                child.start, child.tokens, child.parent = node.start, node.tokens + child.tokens, parent
            parent.children[at:at + 1] = node.children

    def _chunk(self, max_segment: int) -> None:
        for node in list(self._walk(self.root)):
            while len(node) > max_segment:
                node.split(node.start + max_segment)

    def _walk(self, node: Node) -> Iterator[Node]:
        stack = [node]
        while stack:
            n = stack.pop()
            yield n
            stack.extend(reversed(n.children))


class Schedule:
    """Batches of ready nodes (parent done), each at most ``max_tokens`` tokens and ``max_rows``
    nodes, in depth-first order. Call :meth:`done` after running a batch; :meth:`finished` then lists the
    requests whose every output is computed."""

    def __init__(self, tree: PrefixTree, max_tokens: int, max_rows: int | None = None) -> None:
        self.tree, self.max_tokens, self.max_rows = tree, max(1, int(max_tokens)), max_rows
        self._ready = sorted(tree.root.children, key=lambda n: n.order)
        self._pending_children = {id(n): len(n.children) for n in tree.nodes}
        self._left: dict[int, int] = {}
        for n in tree.nodes:
            for o in n.outputs:
                self._left[o.request] = self._left.get(o.request, 0) + 1
        self._finished: list[int] = []

    def __iter__(self) -> Iterator[list[Node]]:
        while self._ready:
            yield self.next_batch()

    def next_batch(self) -> list[Node]:
        """The next batch: ready nodes by depth-first order while they fit the budget."""
        batch, used, rest = [], 0, []
        for n in self._ready:
            fits = used + len(n) <= self.max_tokens and (self.max_rows is None or len(batch) < self.max_rows)
            if fits or not batch:
                batch.append(n)
                used += len(n)
            else:
                rest.append(n)
        self._ready = rest
        return batch

    def done(self, batch: Sequence[Node]) -> list[Node]:
        """Mark ``batch`` computed; returns the nodes whose stored state is no longer needed."""
        released = []
        for n in batch:
            for o in n.outputs:
                self._left[o.request] -= 1
                if self._left[o.request] == 0:
                    self._finished.append(o.request)
            if n.children:
                self._ready.extend(n.children)
                continue
            # a leaf completes its subtree; an ancestor is released once every subtree below it has
            parent = n.parent
            while parent is not None and parent is not self.tree.root:
                self._pending_children[id(parent)] -= 1
                if self._pending_children[id(parent)] > 0:
                    break
                released.append(parent)
                parent = parent.parent
        self._ready.sort(key=lambda m: m.order)
        return released

    def finished(self) -> list[int]:
        """Requests completed since the last call."""
        out, self._finished = self._finished, []
        return out
