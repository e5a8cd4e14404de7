from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("people", "0001_communities_members_roles")]

    operations = [
        migrations.AddField(
            model_name="member",
            name="elder_mode",
            field=models.BooleanField(
                default=False, help_text="更大的字号和更高的对比度", verbose_name="长者模式"
            ),
        ),
    ]
