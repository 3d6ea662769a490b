"""Hashtag frames: who tells a story (politicians) can outweigh what it is about."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace

from newsline.config import HashtagSettings
from newsline.enrich.hashtags import (
    FRAME_HALF,
    Hashtag,
    ZeroShotModel,
    classify,
    default_hashtags,
    hashtags_of,
)

# Short news items written for these tests (not taken from any corpus).
SCHOOL_CLOSURES = (
    "Party split deepens over school closures",
    "Senior members of the governing party broke ranks over the education minister's plan to "
    "close rural schools, with two MPs saying they would vote against it. Parents and teachers "
    "have protested outside the ministry for a week.",
)
ASYLUM_BILL = (
    "MPs reject asylum bill amendments",
    "MPs voted down amendments that would have let asylum seekers work while they wait for a "
    "decision. Refugee charities said migrants were being left in poverty, and the home "
    "secretary said the government would not change course.",
)
POLICE_BUDGET = (
    "Governor vetoes police budget",
    "The governor vetoed the state's police budget, saying officers needed more training before "
    "they got more money. Republicans in the legislature said crime was rising and they would "
    "try to override the veto; the police union called it reckless.",
)
# Items that merely mention a politician keep their subject.
WAITING_LISTS = (
    "Hospital waiting lists fall for the first time in a year",
    "Fewer patients are waiting for operations, figures show, as hospitals clear the backlog "
    "of hip and knee surgery. Doctors and nurses said the winter would test the health "
    "service again, and the health secretary said more beds would open.",
)
CLUB_PRESIDENT = (
    "Club president hails title win",
    "The striker scored twice as the team won the league on the final day of the season. "
    "The club president thanked the fans and the coach, and the players lifted the trophy "
    "in front of a full stadium.",
)
FACTORY_ORDERS = (
    "Factory orders slump as energy costs bite",
    "Manufacturers reported the sharpest fall in orders for two years as energy bills and "
    "interest rates squeezed their customers. Economists expect the economy to shrink, "
    "and business groups asked the government for help with costs.",
)

# Outside Westminster and Washington: legislatures by their own names. Read by subject alone
# these were #economy (a tax) and #health (a hospital); a legislature deciding makes them
# political news.
DUMA_TAX = (
    "State Duma approves tax on imports",
    "The State Duma approved a new tax on imported cars. Dealers said prices would rise by a "
    "fifth and sales would fall this year.",
)
ASSEMBLY_BUDGET = (
    "National Assembly approves hospital budget",
    "The National Assembly approved the budget for the new teaching hospital. Doctors and "
    "nurses welcomed the money for beds and equipment.",
)
LEAGUE_LEADERS = (
    "Premier League leaders held at home",
    "The league leaders were held to a draw at home as their striker missed a late penalty. "
    "The manager said the title race was far from over with ten games of the season left.",
)


def test_politicians_make_a_story_political_whatever_its_subject() -> None:
    without = [replace(h, frame=(), frame_weight=0.0) for h in default_hashtags()]
    # Read by its subject alone, the school closures are #education; its actors (a party,
    # a minister, MPs voting) make it political news.
    assert classify(*SCHOOL_CLOSURES, without)[0][0] == "education"
    assert classify(*SCHOOL_CLOSURES)[0][0] == "politics"
    assert classify(*ASYLUM_BILL)[0][0] == "politics"
    assert classify(*POLICE_BUDGET)[0][0] == "politics"
    assert classify(*WAITING_LISTS)[0][0] == "health"
    assert classify(*CLUB_PRESIDENT)[0][0] == "sports"
    assert classify(*FACTORY_ORDERS)[0][0] == "economy"
    assert classify(*DUMA_TAX)[0][0] == "politics"
    assert classify(*ASSEMBLY_BUDGET)[0][0] == "politics"
    assert classify(*LEAGUE_LEADERS)[0][0] == "sports"


def test_frame_bonus_grows_with_its_words_and_stays_below_its_weight() -> None:
    tags = [
        Hashtag(
            "council", "Town hall business", ("zoning", "ordinance"), ("mayor", "councillor"), 0.3
        ),
        Hashtag("gardens", "Gardening", ("roses", "tulips", "orchids", "gardeners")),
    ]
    model = ZeroShotModel(tags)
    title = "Roses and tulips in bloom"
    text = "Gardeners showed roses, tulips and orchids at the spring show."
    _, _, none = model.scores(title, text)
    _, _, some = model.scores(title, text + " The mayor opened it.")
    _, _, more = model.scores(title, text + " The mayor and two councillors opened it.")
    assert none == [0.0, 0.0]
    assert some[1] == more[1] == 0.0  # a hashtag without a frame gets nothing
    assert 0.0 < some[0] < more[0] < 0.3
    # The bonus is weight * density / (density + FRAME_HALF), density per sqrt(word).
    _, _, only = model.scores("", "mayor")
    assert abs(only[0] - 0.3 * 1.0 / (1.0 + FRAME_HALF)) < 1e-9


def test_channel_hashtags_named_like_a_frame_keep_it() -> None:
    politics, sports = hashtags_of(
        [HashtagSettings(tag="politics", keywords=["vote"]), HashtagSettings(tag="sports")]
    )
    assert "minister" in politics.frame and politics.frame_weight > 0
    assert politics.keywords == ("vote",)
    assert sports.frame == () and sports.frame_weight == 0.0


def test_secondary_hashtags_that_tie_come_in_the_channels_order_in_every_process() -> None:
    # Three secondaries tie; which two are kept must not depend on the process's string
    # hashing (workers in other processes would otherwise store other hashtags).
    code = (
        "from newsline.enrich.hashtags import _assign;"
        "print(_assign(['politics', 'economy', 'health', 'crime', 'other'],"
        " [0.4, 0.2, 0.2, 0.2, 0.0], 1.0))"
    )
    seen = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in range(8)
    }
    assert seen == {"[('politics', 0.4), ('economy', 0.2), ('health', 0.2)]"}
