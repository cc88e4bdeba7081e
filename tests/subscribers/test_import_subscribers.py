import pytest
from django.core.management import CommandError, call_command

from catena_site.errors import Forbidden
from monitoring.operations import Operation
from portals.auth import Caller
from subscribers import services
from subscribers.imports import import_subscribers
from subscribers.models import Subscriber, Subscription
from tests.content.test_channels_api import make_package
from tests.subscribers.test_subscribers_api import make_subscriber

GOOD = """name,country_code,phone,packages
Alice,1,2345678901,basic|sports
Bob,44,7700900123,basic
Carol,49,15123456789,
"""


@pytest.fixture
def setup(portal):
    make_package(portal, "basic")
    make_package(portal, "sports")
    return portal


def test_real_import_creates_subscribers_subscriptions_and_the_same_operations(setup):
    report = import_subscribers(setup, GOOD, caller=Caller(portal=setup), dry_run=False)
    assert report.applied and report.created == 3 and report.subscriptions == 3
    alice = Subscriber.objects.get(name="Alice")
    assert alice.full_phone == "12345678901" and len(alice.playback_token) >= 22
    assert sorted(Subscription.objects.filter(subscriber=alice).values_list("package__name", flat=True)) == [
        "basic", "sports"]
    assert Operation.objects.filter(type="createSubscriber").count() == 3
    ops = Operation.objects.filter(subscriber_id=alice.id).order_by("id")
    assert [op.type for op in ops] == ["createSubscriber", "createPackageSubscriber", "createPackageSubscriber"]
    assert ops[0].payload == {"name": "Alice", "phone": "+12345678901"}
    assert ops[1].payload["packageName"] == "basic" and ops[1].payload["subscriberId"] == alice.public_id
    tokens = set(Subscriber.objects.values_list("playback_token", flat=True))
    assert len(tokens) == 3


def test_dry_run_reports_every_error_and_nothing_changes(setup):
    make_subscriber(setup, "Existing", "1", "5550000")
    bad = GOOD + ("Dan,1,+1 234,\nEve,1,2345678901,\nFrank,1,5550000,\nGina,1,99999999,gold\n,1,88888888,\n"
                  "Hank,12345,88888889,\n")
    for dry_run in (True, False):
        report = import_subscribers(setup, bad, caller=Caller(portal=setup), dry_run=dry_run)
        assert not report.ok and not report.applied
        errors = {row.line: " ".join(row.errors) for row in report.failed_rows}
        assert set(errors) == {5, 6, 7, 8, 9, 10}
        assert "phone" in errors[5]
        assert "Duplicate of line 2" in errors[6]
        assert "already exists" in errors[7]
        assert "gold" in errors[8]
        assert "name" in errors[9]
        assert "country_code" in errors[10]
    assert Subscriber.objects.count() == 1 and not Subscription.objects.exists()
    assert Operation.objects.filter(type="createSubscriber").count() == 1


def test_each_line_is_checked_by_the_api_rules_with_every_error_of_the_line(setup):
    """The same rules and words as POST /subscribers, by CSV column name, each line with its number."""
    text = ("name,country_code,phone,packages\n"
            f"{'x' * 201},+1,12,\n"
            "  ,12345,1234567890123456,\n"
            "Ok,1,5550001,\n"
            "Tab,1,555 0002,\n")
    report = import_subscribers(setup, text, caller=Caller(portal=setup), dry_run=True)
    assert {row.line: row.errors for row in report.failed_rows} == {
        2: ["name: Must be at most 200 characters.", "country_code: Must be 1–4 digits, without '+' or spaces.",
            "phone: Must be 4–15 digits, without '+', spaces or dashes."],
        3: ["name: This field is required.", "country_code: Must be 1–4 digits, without '+' or spaces.",
            "phone: Must be 4–15 digits, without '+', spaces or dashes."],
        5: ["phone: Must be 4–15 digits, without '+', spaces or dashes."],
    }
    assert report.created == 1 and not Subscriber.objects.exists()


def test_a_number_already_in_the_portal_is_named_in_plain_words(setup):
    make_subscriber(setup, "Existing", "44", "7700900123")
    report = import_subscribers(setup, GOOD, caller=Caller(portal=setup), dry_run=True)
    assert [(row.line, row.errors) for row in report.failed_rows] == [
        (3, ["A subscriber with phone +447700900123 already exists."])]


def test_header_is_checked(setup):
    report = import_subscribers(setup, "name,phone\nA,123456\n", caller=Caller(portal=setup), dry_run=True)
    assert "country_code" in report.errors[0]


def test_only_subscriber_admins_import(setup, managers):
    for dry_run in (True, False):
        with pytest.raises(Forbidden):
            import_subscribers(setup, GOOD, caller=Caller(portal=setup, manager=managers["content"]), dry_run=dry_run)
    assert not Subscriber.objects.exists()
    assert not Operation.objects.filter(type__in=["createSubscriber", "createPackageSubscriber"]).exists()


def test_command(setup, tmp_path, capsys):
    path = tmp_path / "subscribers.csv"
    path.write_text(GOOD)
    call_command("import_subscribers", str(path), "--portal", setup.public_id, "--dry-run")
    assert not Subscriber.objects.exists()
    call_command("import_subscribers", str(path), "--portal", setup.name)
    assert Subscriber.objects.count() == 3
    assert set(Operation.objects.filter(type="createSubscriber").values_list("actor_type", flat=True)) == {"system"}
    with pytest.raises(CommandError):
        call_command("import_subscribers", str(path), "--portal", setup.name)  # every phone now exists
    assert "already exists" in capsys.readouterr().out
    assert Subscriber.objects.count() == 3 and Operation.objects.filter(type="createSubscriber").count() == 3
    with pytest.raises(CommandError):
        call_command("import_subscribers", str(path), "--portal", "no-such-portal")


# --- The optional expires_at column (lifecycle.md §1) --------------------------------------------------------


def test_expires_at_ends_the_lines_subscriptions_and_is_recorded_like_the_api(setup, time_machine):
    time_machine.move_to("2026-03-10T12:00:00Z", tick=False)
    text = ("name,country_code,phone,packages,expires_at\n"
            "Alice,1,2345678901,basic|sports,2026-04-01\n"
            "Bob,44,7700900123,basic,2026-05-01T10:30:00+02:00\n"
            "Carol,49,15123456789,basic,\n")
    report = import_subscribers(setup, text, caller=Caller(portal=setup), dry_run=False)
    assert report.applied and report.subscriptions == 4
    ends = {(s.subscriber.name, s.package.name): s.expires_at and s.expires_at.isoformat()
            for s in Subscription.objects.select_related("subscriber", "package")}
    assert ends == {("Alice", "basic"): "2026-04-01T00:00:00+00:00", ("Alice", "sports"): "2026-04-01T00:00:00+00:00",
                    ("Bob", "basic"): "2026-05-01T08:30:00+00:00", ("Carol", "basic"): None}
    bob = Operation.objects.get(type="createPackageSubscriber", subscriber_id=Subscriber.objects.get(name="Bob").id)
    assert bob.payload["expiresAt"] == "2026-05-01T08:30:00Z"
    carol = Operation.objects.get(type="createPackageSubscriber", subscriber_id=Subscriber.objects.get(name="Carol").id)
    assert "expiresAt" not in carol.payload


def test_a_bad_expires_at_is_a_line_error_with_the_api_rule(setup, time_machine):
    time_machine.move_to("2026-03-10T12:00:00Z", tick=False)
    text = ("name,country_code,phone,packages,expires_at\n"
            "A,1,5550001,basic,tomorrow\n"
            "B,1,5550002,basic,2026-02-30\n"
            "C,1,5550003,basic,2036-03-11\n"
            "D,1,5550004,,2026-04-01\n"
            "E,1,5550005,basic,2036-03-10\n")
    report = import_subscribers(setup, text, caller=Caller(portal=setup), dry_run=False)
    rule = "expires_at: Must be a date such as 2026-10-16 or a date and time such as 2026-10-16T15:00:00Z."
    assert {row.line: row.errors for row in report.failed_rows} == {
        2: [rule], 3: [rule], 4: ["expires_at: Must be at most 10 years ahead."],
        5: ["expires_at: No packages to end; give the line's packages too."]}
    assert not report.applied and not Subscriber.objects.exists()


# --- The optional login and player_password columns (players.md §2) -------------------------------------------

PASSWORD_RULE = "Must be 6–32 characters: letters A–Z or a–z, digits, '.', '_', '~', '!', '@', '*' or '-', without spaces."
LOGIN_RULE = "Must be 1–64 characters: letters A–Z or a–z, digits, '.', '_', '-' or '@', without spaces."


def test_login_and_player_password_columns_set_what_players_log_in_with(setup):
    text = ("name,country_code,phone,packages,expires_at,login,player_password\n"
            "Alice,1,2345678901,basic,,alice@flat-42,Tv-2027!x\n"
            "Bob,44,7700900123,,,,\n"
            "Carol,49,15123456789,,,,Kodi_pass\n")
    report = import_subscribers(setup, text, caller=Caller(portal=setup), dry_run=False)
    assert report.applied and report.created == 3
    stored = {s.name: (s.login, s.player_password) for s in Subscriber.objects.all()}
    assert stored["Alice"] == ("alice@flat-42", "Tv-2027!x")
    assert stored["Bob"][0] == "447700900123" and len(stored["Bob"][1]) == 10  # the phone, a generated password
    assert stored["Carol"] == ("4915123456789", "Kodi_pass")
    payloads = {op.payload["name"]: op.payload for op in Operation.objects.filter(type="createSubscriber")}
    assert payloads["Alice"] == {"name": "Alice", "phone": "+12345678901", "login": "alice@flat-42"}  # as the API
    assert payloads["Bob"] == {"name": "Bob", "phone": "+447700900123"}
    assert "Tv-2027!x" not in str(list(Operation.objects.values_list("payload", flat=True)))


def test_a_bad_login_or_password_is_a_line_error_with_the_api_rule(setup):
    text = ("name,country_code,phone,login,player_password\n"
            "Alice,1,2345678901,alice smith,\n"
            "Bob,44,7700900123,bob,short\n"
            "Carol,49,15123456789,ca/rol,pässwörd1\n"
            f"Dan,1,5550001,{'d' * 65},\n")
    report = import_subscribers(setup, text, caller=Caller(portal=setup), dry_run=False)
    assert not report.applied
    assert {row.line: row.errors for row in report.failed_rows} == {
        2: [f"login: {LOGIN_RULE}"], 3: [f"player_password: {PASSWORD_RULE}"],
        4: [f"login: {LOGIN_RULE}", f"player_password: {PASSWORD_RULE}"], 5: [f"login: {LOGIN_RULE}"]}
    assert not Subscriber.objects.exists()


def test_a_login_twice_in_the_file_or_already_in_the_portal_is_a_line_error(setup):
    existing = make_subscriber(setup, "Existing", "44", "7700900123")
    services.update_subscriber(existing, caller=Caller(portal=setup), data={"login": "taken"})
    text = ("name,country_code,phone,login\n"
            "Alice,1,2345678901,alice\n"
            "Alice again,1,2345678902,alice\n"
            "Bob,1,2345678903,taken\n"
            "Carol,1,2345678904,12345678905\n"  # the default login of the next line
            "Dan,1,2345678905,\n"
            "Erin,1,2345678906,447700900123\n")  # the existing subscriber's old number: free again
    report = import_subscribers(setup, text, caller=Caller(portal=setup), dry_run=True)
    assert {row.line: row.errors for row in report.failed_rows} == {
        3: ["Duplicate of line 2 (same login alice)."],
        4: ["A subscriber with login taken already exists."],
        6: ["Duplicate of line 5 (same login 12345678905)."],
    }


def test_a_duplicate_number_is_reported_once_not_again_as_its_login(setup):
    make_subscriber(setup, "Existing", "44", "7700900123")
    text = "name,country_code,phone\nAlice,44,7700900123\nBob,1,5550001\nBob again,1,5550001\n"
    report = import_subscribers(setup, text, caller=Caller(portal=setup), dry_run=True)
    assert {row.line: row.errors for row in report.failed_rows} == {
        2: ["A subscriber with phone +447700900123 already exists."],
        4: ["Duplicate of line 3 (same phone +15550001)."]}
