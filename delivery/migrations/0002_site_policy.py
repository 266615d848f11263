"""The site's delivery policy, with the defaults a company would set: at most 3 reminders a day per learner across
all playbooks, 1 Slack message an hour, quiet hours 21:00-08:00 in the learner's own time zone."""

from django.db import migrations


def create_policy(apps, schema_editor):
    DeliveryPolicy = apps.get_model("delivery", "DeliveryPolicy")
    ChannelCap = apps.get_model("delivery", "ChannelCap")
    if DeliveryPolicy.objects.exists():
        return
    policy = DeliveryPolicy.objects.create(max_messages=3, per="24h", quiet_hours_start="21:00", quiet_hours_end="08:00")
    ChannelCap.objects.create(policy=policy, channel="slack", max_messages=1, per="1h")


class Migration(migrations.Migration):
    dependencies = [("delivery", "0001_initial")]

    operations = [migrations.RunPython(create_policy, migrations.RunPython.noop)]
