"""The playbook map's geometry: boxes, badges and edges in SVG user units, drawn by a template.

The steps run down a spine on the left, in path order. A branch point's options stand to its right, one under the
other, each with its (abbreviated) condition and where it leads; an option's ``goto`` is a dashed edge down a lane
between the options and the spine into the step it jumps to. Triggers, which may fire at any step, sit in two
columns under the path; a wait shows what it waits for and its two arms, came and timed out.

Counts, when given, are badges; a route, when given, adds classes (``route`` on what the journey went through,
``at`` where it ended, ``fired`` on triggers). Text is cut to fit its box (with an ellipsis), the whole of it in
the box's tooltip. Pure: no Django.
"""

from dataclasses import dataclass

from playbooks.engine.playbook_map import OUTCOMES, MapCounts, MapRoute, describe_action, wait_arms
from playbooks.engine.spec import ActionSpec, BranchOption, PlaybookSpec, StepSpec, TriggerSpec

WIDTH = 940
PAD = 16
STEP_W, STEP_H = 300, 50
OPTION_X = PAD + STEP_W + 72  # the gap between is the goto lanes' channel
OPTION_W = WIDTH - PAD - OPTION_X
OPTION_H, OPTION_GAP = 44, 8
ROW_GAP = 28
LANE_STEP = 8
LINE = 17  # a text line's height
TRIGGER_GAP = 16
TRIGGER_W = (WIDTH - 2 * PAD - TRIGGER_GAP) // 2
CHAR_W = 6.8  # an average character of the 12 px sans-serif the stylesheet sets, generously
BADGE_CHAR_W, BADGE_H = 6.4, 18


@dataclass(frozen=True)
class Text:
    x: float
    y: float
    text: str
    cls: str = ""


@dataclass(frozen=True)
class Badge:
    x: float
    y: float
    width: float
    text: str
    count: int
    cls: str

    @property
    def text_x(self) -> float:
        return self.x + self.width / 2

    @property
    def text_y(self) -> float:
        return self.y + BADGE_H - 5


@dataclass(frozen=True)
class Box:
    key: str  # what the box stands for: "step:<key>", "option:<key>:<n>", "trigger:<name>", "wait:<name>:<n>:<arm>"
    x: float
    y: float
    width: float
    height: float
    cls: str
    title: str  # the tooltip: every word the box cuts
    texts: tuple[Text, ...] = ()
    badges: tuple[Badge, ...] = ()


@dataclass(frozen=True)
class Edge:
    d: str
    cls: str
    arrow: bool = True


@dataclass(frozen=True)
class Diagram:
    width: int
    height: int
    boxes: tuple[Box, ...]
    edges: tuple[Edge, ...]
    labels: tuple[Text, ...]


def fit(text: str, width: float, char_w: float = CHAR_W) -> str:
    """``text`` cut to ``width`` units, ending in an ellipsis when cut."""
    room = max(int(width / char_w), 2)
    return text if len(text) <= room else text[: room - 1].rstrip() + "…"


def wrap(text: str, width: float, max_lines: int, char_w: float = CHAR_W) -> list[str]:
    """``text`` broken at spaces into at most ``max_lines`` lines of ``width`` units, the last cut if need be."""
    room = max(int(width / char_w), 2)
    lines: list[str] = []
    for word in text.split(" "):
        if lines and len(lines[-1]) + 1 + len(word) <= room:
            lines[-1] += " " + word
        else:
            lines.append(word)
    kept = lines[:max_lines]
    if len(lines) > max_lines:
        kept[-1] = fit(" ".join([kept[-1], *lines[max_lines:]]), width, char_w)
    return [fit(line, width, char_w) for line in kept]


def _badges(right: float, y: float, items: list[tuple[str, int, str]]) -> tuple[Badge, ...]:
    """Badges right-aligned from ``right``, in the order given (the first is the rightmost)."""
    badges = []
    for text, count, cls in items:
        width = len(text) * BADGE_CHAR_W + 12
        right -= width
        badges.append(Badge(right, y, width, text, count, cls))
        right -= 6
    return tuple(badges)


def _badge_room(badges: tuple[Badge, ...], box_x: float, box_w: float) -> float:
    """The width left for text on a badge's line."""
    return (min(b.x for b in badges) - box_x - 16) if badges else box_w - 20


class _Layout:
    def __init__(self, spec: PlaybookSpec, counts: MapCounts | None, route: MapRoute | None) -> None:
        self.spec, self.counts, self.route = spec, counts, route
        self.boxes: list[Box] = []
        self.edges: list[Edge] = []
        self.labels: list[Text] = []
        self.step_y: dict[str, float] = {}
        self.gotos: list[tuple[float, str, str]] = []  # (y leaving the option, target key, classes)
        self.titles = {module.slug: module.title for module in spec.modules}

    def build(self) -> Diagram:
        self.labels.append(Text(PAD, 14, "Path, in order", "map-heading"))
        y = 26.0
        previous: float | None = None
        for index, step in enumerate(self.spec.steps):
            if previous is not None:
                self._spine(previous, y, self._on_route(step.key))
            self.step_y[step.key] = y
            height = self._step(step, index, y)
            previous = y + STEP_H
            y += height + ROW_GAP
        if previous is not None:
            self._spine(previous, y, bool(self.route and self.route.completed))
        self._end(y)
        y += STEP_H + ROW_GAP
        self._goto_edges()
        if self.spec.triggers:
            y = self._triggers(y + 6)
        return Diagram(WIDTH, int(y), tuple(self.boxes), tuple(self.edges), tuple(self.labels))

    # --- the path ----------------------------------------------------------------------------------------------

    def _on_route(self, key: str) -> bool:
        return self.route is not None and key in self.route.steps

    def _step(self, step: StepSpec, index: int, y: float) -> float:
        """Draws a step (and a branch point's options); returns the height of its row."""
        kind = "branch" if step.is_branch else "tags" if step.by_tags else "module"
        cls = f"map-step map-{kind}"
        if self._on_route(step.key):
            cls += " route"
        if self.route is not None and self.route.at == step.key:
            cls += " at"
        items = []
        if self.counts is not None:
            items.append((f"{self.counts.at_step.get(step.key, 0)} here", self.counts.at_step.get(step.key, 0), "now"))
            if step.module:
                items.append((f"{self.counts.done.get(step.key, 0)} done", self.counts.done.get(step.key, 0), "done"))
        if self.route is not None and self.route.at == step.key:
            items.insert(0, ("ended here", 1, "now"))
        badges = _badges(PAD + STEP_W - 8, y + 7, items)
        head = f"{index + 1}. {step.key}"
        detail = _step_detail(step, self.titles)
        texts = (
            Text(PAD + 10, y + 20, fit(head, _badge_room(badges, PAD, STEP_W), CHAR_W + 0.6), "map-title"),
            Text(PAD + 10, y + 39, fit(detail, STEP_W - 20), "map-detail"),
        )
        self.boxes.append(Box(f"step:{step.key}", PAD, y, STEP_W, STEP_H, cls, f"{head}: {detail}", texts, badges))
        options = step.branch or ()
        for number, option in enumerate(options):
            self._option(step, number, option, y + number * (OPTION_H + OPTION_GAP), y + STEP_H / 2)
        return max(STEP_H, len(options) * (OPTION_H + OPTION_GAP) - OPTION_GAP)

    def _option(self, step: StepSpec, number: int, option: BranchOption, y: float, from_y: float) -> None:
        taken = self.route is not None and (step.key, number) in self.route.options
        cls = "map-option" + (" route" if taken else "") + (" map-otherwise" if option.is_otherwise else "")
        count = self.counts.options.get((step.key, number), 0) if self.counts is not None else None
        badges = _badges(
            OPTION_X + OPTION_W - 8, y + 6, [(f"{count} took", count, "took")] if count is not None else []
        )
        condition = "otherwise" if option.is_otherwise else f"if {option.when}"
        target = f"→ {option.module}, then the next step" if option.module else f"⤵ go to step {option.goto}"
        texts = (
            Text(OPTION_X + 10, y + 18, fit(condition, _badge_room(badges, OPTION_X, OPTION_W)), "map-condition"),
            Text(OPTION_X + 10, y + 36, fit(target, OPTION_W - 20), "map-detail"),
        )
        key = f"option:{step.key}:{number}"
        self.boxes.append(Box(key, OPTION_X, y, OPTION_W, OPTION_H, cls, f"{condition} {target}", texts, badges))
        to_y = y + OPTION_H / 2
        x0, x1 = PAD + STEP_W, OPTION_X
        middle = (x0 + x1) / 2
        self.edges.append(
            Edge(
                f"M{x0} {from_y} C{middle} {from_y} {middle} {to_y} {x1 - 2} {to_y}",
                "map-edge" + (" route" if taken else ""),
            )
        )
        if option.goto:
            self.gotos.append((y + OPTION_H - 10, option.goto, "map-goto" + (" route" if taken else "")))

    def _goto_edges(self) -> None:
        """Each goto leaves its option's left side, runs down its own lane and enters the step it jumps to."""
        for lane, (from_y, target, cls) in enumerate(self.gotos):
            x = OPTION_X - 12 - (lane % 6) * LANE_STEP
            if target not in self.step_y:
                self.labels.append(Text(x, from_y + 14, f"no step '{target}'", "map-missing"))
                continue
            to_y = self.step_y[target] + STEP_H / 2 + 8
            d = f"M{OPTION_X} {from_y} H{x} V{to_y} H{PAD + STEP_W + 2}"
            self.edges.append(Edge(d, cls))

    def _spine(self, from_y: float, to_y: float, on_route: bool) -> None:
        x = PAD + STEP_W / 2
        self.edges.append(Edge(f"M{x} {from_y} V{to_y - 2}", "map-edge map-spine" + (" route" if on_route else "")))

    def _end(self, y: float) -> None:
        done = self.route is not None and self.route.completed
        items = [(f"{self.counts.completed} completed", self.counts.completed, "done")] if self.counts else []
        if self.counts is not None and self.counts.elsewhere:
            items.append((f"{self.counts.elsewhere} on inserted modules", self.counts.elsewhere, "now"))
        badges = _badges(PAD + STEP_W - 8, y + 16, items[:1])
        texts = [Text(PAD + 10, y + 29, "Journey complete", "map-title")]
        if len(items) > 1:  # learners on a module a trigger inserted belong to no step: said here, under the path
            texts.append(Text(PAD + STEP_W + 12, y + 29, items[1][0], "map-detail"))
        self.boxes.append(
            Box(
                "end",
                PAD,
                y,
                STEP_W,
                STEP_H,
                "map-end" + (" route at" if done else ""),
                "The end of the path",
                tuple(texts),
                badges,
            )
        )

    # --- the triggers ------------------------------------------------------------------------------------------

    def _triggers(self, y: float) -> float:
        self.labels.append(Text(PAD, y + 4, "Triggers (they may fire at any step)", "map-heading"))
        y += 16
        triggers = list(self.spec.triggers)
        for row in range(0, len(triggers), 2):
            heights = [
                self._trigger(t, PAD + col * (TRIGGER_W + TRIGGER_GAP), y)
                for col, t in enumerate(triggers[row : row + 2])
            ]
            y += max(heights) + TRIGGER_GAP
        return y

    def _trigger(self, trigger: TriggerSpec, x: float, y: float) -> float:
        """Draws a trigger and its actions; returns its height."""
        fired = self.route is not None and trigger.name in self.route.triggers
        count = self.counts.triggers.get(trigger.name, 0) if self.counts is not None else None
        items = [(f"fired for {count}", count, "fired")] if count is not None else []
        if fired:
            items.append(("fired", 1, "fired"))
        badges = _badges(x + TRIGGER_W - 8, y + 6, items)
        room = TRIGGER_W - 20
        texts = [Text(x + 10, y + 19, fit(trigger.name, _badge_room(badges, x, TRIGGER_W), CHAR_W + 0.6), "map-title")]
        detail = _trigger_detail(trigger)
        lines = [(line, "map-condition") for line in wrap(f"when {trigger.when}", room, 2)]
        lines += [(fit(detail, room), "map-detail")] if detail else []
        for number, (line, cls) in enumerate(lines, 1):
            texts.append(Text(x + 10, y + 19 + number * LINE, line, cls))
        line_y = texts[-1].y + LINE + 2
        waits: list[tuple[int, float]] = []
        for number, action in enumerate(trigger.then):
            for line in wrap(f"→ {describe_action(action)}", room, 2):
                texts.append(Text(x + 10, line_y, line, "map-action"))
                line_y += LINE
            if action.kind == "wait":
                waits.append((number, line_y - 8))
                line_y += self._arms_height(action) + 6
        height = line_y - y - 4
        whole = "; ".join(describe_action(a) for a in trigger.then)
        cls = "map-trigger" + (" fired" if fired else "")
        self.boxes.append(
            Box(
                f"trigger:{trigger.name}",
                x,
                y,
                TRIGGER_W,
                height,
                cls,
                f"{trigger.name}: when {trigger.when}: {whole}",
                tuple(texts),
                badges,
            )
        )
        for number, top in waits:
            self._wait(trigger, number, x + 18, top)
        return height

    @staticmethod
    def _arms_height(action: ActionSpec) -> float:
        return 26 + LINE * max(1, *(len(lines) for lines in _arm_lines(action).values()))

    def _wait(self, trigger: TriggerSpec, number: int, x: float, y: float) -> None:
        """A wait's two arms side by side under its line: what runs if the event came, and if it did not."""
        action = trigger.then[number]
        arms = _arm_lines(action)
        width = ARM_W
        height = self._arms_height(action)
        for column, outcome in enumerate(OUTCOMES):
            left = x + column * (width + 8)
            taken = self.route is not None and (trigger.name, number, outcome) in self.route.waits
            count = self.counts.waits.get((trigger.name, number, outcome), 0) if self.counts is not None else None
            badges = _badges(left + width - 6, y + 4, [(str(count), count, "took")] if count is not None else [])
            label = "came" if outcome == "came" else "timed out"
            texts = [Text(left + 8, y + 17, label, "map-arm")]
            texts += [
                Text(left + 8, y + 17 + LINE * (i + 1), fit(line, width - 14)) for i, line in enumerate(arms[outcome])
            ]
            if not arms[outcome]:
                texts.append(Text(left + 8, y + 17 + LINE, "nothing", "map-detail"))
            cls = f"map-wait map-{outcome}" + (" route" if taken else "")
            title = f"{label}: {'; '.join(wait_arms(action)[column]) or 'nothing'}"
            self.boxes.append(
                Box(f"wait:{trigger.name}:{number}:{outcome}", left, y, width, height, cls, title, tuple(texts), badges)
            )


ARM_W = (TRIGGER_W - 18 - 10 - 8) / 2


def _arm_lines(action: ActionSpec) -> dict[str, list[str]]:
    """A wait's arms as the lines drawn: each action on up to two lines."""
    arms = zip(OUTCOMES, wait_arms(action), strict=True)
    return {outcome: [line for text in texts for line in wrap(text, ARM_W - 14, 2)] for outcome, texts in arms}


def _step_detail(step: StepSpec, titles: dict[str, str]) -> str:
    origin = f" · from block {step.origin}" if step.origin else ""
    return _step_kind(step, titles) + origin


def _step_kind(step: StepSpec, titles: dict[str, str]) -> str:
    if step.block:  # a block's placeholder left unexpanded (the block cannot be read): said, not hidden
        return f"block {step.block}, not expanded"
    if step.is_branch:
        count = len(step.branch or ())
        return f"branch point: {count} option{'s' if count != 1 else ''}"
    if step.by_tags:
        return f"picks a module tagged {', '.join(step.tags)}"
    title = titles.get(step.module or "", "")
    parts = [f"{step.module}: {title}" if step.id else title or "module"]
    if step.required:
        parts.append("required")
    if step.readiness:
        parts.append("readiness")
    if step.due:
        parts.append(f"due {step.due.after} after {step.due.anchor}")
    return " · ".join(parts)


def _trigger_detail(trigger: TriggerSpec) -> str:
    """Its limits, and the block it comes from."""
    parts = []
    if trigger.limit_per_learner is not None:
        per = f" per {trigger.limit_per}" if trigger.limit_per else ""
        parts.append(f"at most {trigger.limit_per_learner}× per learner{per}")
    if trigger.cooldown:
        parts.append(f"cooldown {trigger.cooldown}")
    if trigger.origin:
        parts.append(f"from block {trigger.origin}")
    return ", ".join(parts)


def playbook_diagram(spec: PlaybookSpec, *, counts: MapCounts | None = None, route: MapRoute | None = None) -> Diagram:
    """The map of ``spec``, with live counts (the admin's map) or a journey's route (the Simulate page)."""
    return _Layout(spec, counts, route).build()
