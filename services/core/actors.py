"""Who is acting: a team member in chat, the admin panel's login, a follow-up rule or a
scheduled job. Services take an Actor, so access checks and the audit log agree on who
did what.
"""
from dataclasses import dataclass

from models import User

SEE_ALL_ROLES = ("admin", "dispatcher")


@dataclass(frozen=True)
class Actor:
    kind: str = "system"   # member | client | panel | rule | job | system
    user: User = None      # the member acting in chat, else None
    ref: str = ""          # the panel login, rule id or job name
    label: str = ""        # how people read it: "Ann Lee (sales)", "rule “Welcome”"

    @classmethod
    def member(cls, user):
        role = f" ({user.role})" if user.role else ""  # not on the team yet: joining
        return cls("member", user, str(user.id), f"{user.display_name}{role}")

    @classmethod
    def client(cls, user):
        """Someone not on the team writing to the bot; sees nothing of the team's."""
        return cls("client", user, str(user.id), f"{user.display_name} (client)")

    @classmethod
    def panel(cls, login="admin"):
        return cls("panel", None, login, f"admin panel ({login})")

    @classmethod
    def rule(cls, rule):
        return cls("rule", None, str(rule.id), f"rule “{rule.name}”")

    @classmethod
    def job(cls, name):
        return cls("job", None, name, f"scheduled job {name}")

    @classmethod
    def system(cls, what):
        """Leadgram itself, e.g. the bot noting who wrote to it or the sender marking a
        blocked chat."""
        return cls("system", None, what, f"Leadgram ({what})")

    @property
    def user_id(self):
        return self.user.id if self.user else None

    @property
    def sees_all(self):
        if self.kind == "client":
            return False
        return self.user is None or self.user.role in SEE_ALL_ROLES

    @property
    def assigns(self):
        """Handing leads to people is for dispatchers and admins (and the panel, and rules)."""
        return self.sees_all
