"""Computer-based delivery (机考): sessions, rooms, seats, tickets, the sweeper, answer histories."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import click

from certify.commands.base import CertifyGroup, Settings, pass_settings
from certify.delivery.attempts import now_utc, sweep, utc
from certify.delivery.backup import MAX_BYTES as MAX_BACKUP_BYTES
from certify.delivery.backup import restore_in_room
from certify.delivery.history import answer_history, describe
from certify.delivery.schedule import (
    add_room,
    allocate_seats,
    assign_invigilator,
    create_session,
    read_groups,
    sessions_of,
)
from certify.delivery.tickets import room_report_of, write_tickets
from schemas.reference import CST


def time_option(_ctx: click.Context, _param: click.Parameter, value: str) -> datetime:
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            "写作 2026-12-05T09:00+08:00 / ISO 8601 with its offset, e.g. 2026-12-05T09:00+08:00"
        ) from None
    if at.tzinfo is None:
        raise click.BadParameter("须带时区，例如 +08:00 / give the offset, e.g. +08:00")
    return at


def cst(at: datetime | None, pattern: str = "%Y-%m-%d %H:%M") -> str:
    return utc(at).astimezone(CST).strftime(pattern) if at else "—"


@click.group("exams", cls=CertifyGroup)
def exams() -> None:
    """Computer-based delivery: sessions, rooms, seats, tickets, the sweeper, answer histories.
    机考：场次、考场、座位、准考证、自动收卷、作答记录。"""


@exams.group("session", cls=CertifyGroup)
def session_group() -> None:
    """Timed sessions (场次) of a sitting. 考试场次。"""


@session_group.command("add")
@click.argument("sitting_code", metavar="SITTING")
@click.argument("code")
@click.option(
    "--start",
    required=True,
    callback=time_option,
    metavar="DATETIME",
    help="Start, ISO 8601 with offset (2026-12-05T09:00+08:00). 开考时间。",
)
@click.option(
    "--minutes", type=click.IntRange(1, 24 * 60), required=True, help="Duration. 考试时长（分钟）。"
)
@click.option("--part", default="", help="The paper part it delivers (default: every part). 科目。")
@click.option(
    "--entry",
    type=click.IntRange(0),
    default=30,
    show_default=True,
    help="Latest entry, minutes after the start. 开考后禁止入场（分钟）。",
)
@click.option(
    "--handin",
    type=click.IntRange(0),
    default=30,
    show_default=True,
    help="Earliest hand-in, minutes after the start. 开考后方可交卷（分钟）。",
)
@click.option(
    "--no-spread",
    is_flag=True,
    help="Do not keep employers and training classes apart when seating. 不分散同单位考生。",
)
@pass_settings
def session_add(
    settings: Settings,
    sitting_code: str,
    code: str,
    start: datetime,
    minutes: int,
    part: str,
    entry: int,
    handin: int,
    no_spread: bool,
) -> None:
    """Add a session to a sitting. 添加考试场次。"""
    row = create_session(
        settings.engine(),
        sitting_code,
        code,
        starts_at=start,
        duration_minutes=minutes,
        part=part,
        entry_minutes=entry,
        handin_minutes=handin,
        spread=not no_spread,
    )
    click.echo(
        f"场次 session {row.code}: {sitting_code} {row.part or '全部 every part'}, "
        f"{cst(row.starts_at)} (UTC+8), {row.duration_minutes} 分钟 minutes; "
        f"入场截止 entry +{row.entry_minutes}, 最早交卷 hand-in +{row.handin_minutes}"
    )


@session_group.command("list")
@click.argument("sitting_code", metavar="SITTING")
@pass_settings
def session_list(settings: Settings, sitting_code: str) -> None:
    """A sitting's sessions, rooms and candidates seated. 场次与考场。"""
    summaries = sessions_of(settings.engine(), sitting_code)
    if not summaries:
        click.echo(f"{sitting_code}: 无场次 no sessions")
    for s in summaries:
        exam = s.session
        seed = "未编排 not seated" if exam.seat_seed is None else f"seed {exam.seat_seed}"
        click.echo(
            f"{exam.code:<16} {exam.part or '全部 all':<10} {cst(exam.starts_at)} "
            f"{exam.duration_minutes} 分钟 min  {seed}"
        )
        for room, seated in s.rooms:
            invigilator = room.invigilator or "（未指定 none）"
            click.echo(
                f"  {room.code:<6} {room.name or '':<10} {seated:>4}/{room.capacity:<4} "
                f"监考 invigilator {invigilator}"
            )


@exams.group("room", cls=CertifyGroup)
def room_group() -> None:
    """Rooms (考场) of a session. 考场。"""


@room_group.command("add")
@click.argument("session_code", metavar="SESSION")
@click.argument("code")
@click.option("--capacity", type=click.IntRange(1, 1000), required=True, help="Seats. 座位数。")
@click.option(
    "--columns",
    type=click.IntRange(1, 50),
    default=6,
    show_default=True,
    help="Seats to a row. 每排座位数。",
)
@click.option("--name", default="", help="Where it is (e.g. 实验楼 301). 考场名称。")
@click.option(
    "--invigilator", default="", metavar="USER", help="The invigilator's account. 监考员账户。"
)
@pass_settings
def room_add(
    settings: Settings,
    session_code: str,
    code: str,
    capacity: int,
    columns: int,
    name: str,
    invigilator: str,
) -> None:
    """Add a room with a fresh six-digit room code. 添加考场。"""
    room = add_room(
        settings.engine(),
        session_code,
        code,
        capacity=capacity,
        columns=columns,
        name=name,
        invigilator=invigilator,
        require_account=True,
    )
    click.echo(
        f"考场 room {session_code}/{room.code}: {room.capacity} 座 seats, {room.columns} 座一排 a row"
        + (f", 监考 invigilator {room.invigilator}" if room.invigilator else "")
        + f"; 考场口令 room code {room.room_code} (开考时宣读 read out at the start)"
    )


@room_group.command("invigilator")
@click.argument("session_code", metavar="SESSION")
@click.argument("room_code", metavar="ROOM")
@click.argument("username", metavar="USER")
@pass_settings
def room_invigilator(settings: Settings, session_code: str, room_code: str, username: str) -> None:
    """Give a room to an invigilator's account. 指定监考员。"""
    assign_invigilator(settings.engine(), session_code, room_code, username)
    click.echo(f"考场 room {session_code}/{room_code}: 监考 invigilator {username}")


@exams.command("seat")
@click.argument("session_code", metavar="SESSION")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), help="Same seed, same seats. 随机种子。")
@click.option(
    "--groups",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV/XLSX: 准考证号 admission_no, 单位/培训班 group (default: training classes). 分组。",
)
@pass_settings
def seat_command(
    settings: Settings, session_code: str, seed: int | None, groups: Path | None
) -> None:
    """Seat every candidate and create their attempts (again until someone signs in). 编排座位。"""
    seating = allocate_seats(
        settings.engine(),
        session_code,
        seed=seed,
        groups=read_groups(groups) if groups is not None else None,
    )
    rooms = ", ".join(f"{code} {n}" for code, n in seating.rooms.items())
    click.echo(
        f"{session_code}: 已编排 seated {seating.seated}, seed {seating.seed} "
        f"(重现 reproduce: --seed {seating.seed}); {rooms}"
    )


@exams.command("tickets")
@click.argument("session_code", metavar="SESSION")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@pass_settings
def tickets_command(settings: Settings, session_code: str, out: Path) -> None:
    """Admission tickets: one PDF per candidate, one batch per room. 打印准考证。"""
    written = write_tickets(settings.engine(), session_code, out, progress=None)
    batches = sum(1 for p in written if not p.name.startswith("准考证-"))
    click.echo(
        f"{session_code}: {len(written) - batches} 张准考证 tickets, "
        f"{batches} 个考场合订 room batches -> {out}"
    )


@exams.command("sweep")
@click.option(
    "--loop",
    "seconds",
    type=click.FloatRange(min=1),
    metavar="SECONDS",
    help="Sweep every SECONDS until interrupted (Ctrl-C). 循环运行。",
)
@pass_settings
def sweep_command(settings: Settings, seconds: float | None) -> None:
    """Close attempts past their deadline: handed in, or absent if never signed in. 到时自动收卷。"""
    engine = settings.engine()
    try:
        while True:
            closed: list[int] = []
            while True:  # a round takes at most 500: go on until one takes fewer
                swept = sweep(engine)
                closed += swept.attempts
                if len(swept.attempts) < 500:
                    break
            if closed or seconds is None:
                stamp = cst(now_utc(), "%H:%M:%S")
                click.echo(f"{stamp} 收卷 closed {len(closed)}")
                for a in describe(engine, closed):
                    click.echo(
                        f"  {a.session} {a.room}-{a.seat:02d} {a.admission_no} "
                        f"{a.status.zh} {a.status.value}"
                    )
            if seconds is None:
                return
            time.sleep(seconds)
    except KeyboardInterrupt:
        click.echo("已停止 stopped")


@exams.command("room-report")
@click.argument("session_code", metavar="SESSION")
@click.argument("room_code", metavar="ROOM")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@pass_settings
def room_report_command(settings: Settings, session_code: str, room_code: str, out: Path) -> None:
    """The room record (考场记录): attendance, times, the room's log. 考场记录。"""
    data, _ = room_report_of(settings.engine(), session_code, room_code)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    click.echo(f"{session_code}/{room_code}: 考场记录 room report -> {out}")


@exams.command("restore")
@click.argument("session_code", metavar="SESSION")
@click.argument("room_code", metavar="ROOM")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_settings
def restore_command(settings: Settings, session_code: str, room_code: str, file: Path) -> None:
    """Import a candidate's encrypted answer backup (答案备份, the .certify file the exam page
    downloads when it cannot reach the server). 导入考生的答案备份。"""
    with file.open("rb") as fh:
        data = fh.read(MAX_BACKUP_BYTES + 1)
    done = restore_in_room(settings.engine(), settings.vault(), session_code, room_code, data)
    click.echo(
        f"{session_code}/{room_code} {done.admission_no}: 保存 stored {len(done.stored)}, "
        f"已有 already there {len(done.already)}, 未接受 refused {len(done.refused)}"
    )
    for r in done.refused:
        click.echo(f"  seq {r['seq']}: {r['message_zh']} / {r['message_en']}")
    if done.regrade:
        click.echo("该考次已评分，请重新评分 / the sitting was graded before: grade it again")


@exams.command("answers")
@click.argument("session_code", metavar="SESSION")
@click.argument("admission_no", metavar="ADMISSION_NO")
@pass_settings
def answers_command(settings: Settings, session_code: str, admission_no: str) -> None:
    """Every change a candidate's answers went through, for appeals. 作答记录（申诉查询）。"""
    h = answer_history(settings.engine(), session_code, admission_no)
    finish = f" ({h.finish_reason.zh} {h.finish_reason.value})" if h.finish_reason else ""
    click.echo(
        f"{h.session} {h.room}-{h.seat:02d} {h.admission_no}: "
        f"{h.status.zh} {h.status.value}{finish}; 登录 signed in {cst(h.signed_in_at, '%H:%M:%S')}, "
        f"交卷 handed in {cst(h.handed_in_at, '%H:%M:%S')} (UTC+8); "
        f"{len(h.lines)} 次保存 writes"
    )
    click.echo(f"{'seq':>5}  {'时间 received':<23} {'题号':>4}  {'设备 device':<12}  作答 value")
    for line in h.lines:
        value = line.value.replace("\r", "").replace("\n", "⏎") or "（清空 cleared）"
        flag = " ⚑" if line.flagged else ""
        number = "?" if line.number is None else str(line.number)
        click.echo(
            f"{line.seq:>5}  {cst(line.received_at, '%Y-%m-%d %H:%M:%S'):<23} {number:>4}  "
            f"{line.device:<12}  {value}{flag}"
        )
    for u in h.uploads:
        number = "?" if u.number is None else str(u.number)
        click.echo(
            f"  附件 attachment {u.id} 题 {number}: {u.name} {u.media_type} {u.size} B "
            f"sha256 {u.sha256[:16]}… {cst(u.uploaded_at, '%H:%M:%S')} {u.device}"
        )
