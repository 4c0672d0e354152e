"""What a service answers a person with; adapters render it for their channel."""
from dataclasses import dataclass, field


@dataclass
class Reply:
    text: str                                     # HTML parse mode, user data escaped
    buttons: list = field(default_factory=list)   # rows of (label, callback data)
    replace: bool = False                         # edit the message whose button was pressed
