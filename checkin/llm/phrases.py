"""What the receptionist says, in English and Spanish: short sentences meant to be spoken.

Every question ends with "?", a proposed host is named in full with their department, and no
phrase ever carries a phone number or an email address.
"""

from __future__ import annotations

PHRASES: dict[str, dict[str, str]] = {
    "greeting": {
        "en": "Hi, welcome to {company}. Who are you here to see?",
        "es": "Hola, bienvenido a {company}. ¿A quién viene a ver?",
    },
    "ask_host": {"en": "Who are you here to see?", "es": "¿A quién viene a ver?"},
    "ask_host_again": {
        "en": "Sorry, I didn't catch that. Who are you here to see?",
        "es": "Perdón, no le entendí. ¿A quién viene a ver?",
    },
    "ask_recipient": {"en": "Who is the delivery for?", "es": "¿Para quién es la entrega?"},
    "still_there": {
        "en": "Are you still there? {question}",
        "es": "¿Sigue ahí? {question}",
    },
    "confirm_host": {
        "en": "{name} in {department}, is that right?",
        "es": "{name}, de {department}, ¿es correcto?",
    },
    "confirm_meeting": {
        "en": "I see a meeting at {time} with {name} in {department}. Is that who you're meeting?",
        "es": "Veo una reunión a las {time} con {name}, de {department}. ¿Es correcto?",
    },
    "which_one": {
        "en": "I have {count} people by that name: {options}. Which one?",
        "es": "Tengo {count} personas con ese nombre: {options}. ¿Cuál de ellas?",
    },
    "which_many": {
        "en": "Several people match that name. Do you know their last name or department?",
        "es": "Varias personas tienen ese nombre. ¿Sabe su apellido o en qué departamento trabaja?",
    },
    "spell_host": {
        "en": "Sorry, I couldn't find that name. Could you spell their last name for me?",
        "es": "Perdón, no encuentro ese nombre. ¿Puede deletrear el apellido, letra por letra?",
    },
    "not_found_transfer": {
        "en": "I'm sorry, I can't find anyone by that name. I'll get someone from reception "
              "to help you.",
        "es": "Lo siento, no encuentro a nadie con ese nombre. Voy a pedir a alguien de "
              "recepción que le ayude.",
    },
    "host_left": {
        "en": "I'm sorry, {name} is no longer with the company. I'll get someone from reception "
              "to help you.",
        "es": "Lo siento, {name} ya no trabaja en la empresa. Voy a pedir a alguien de recepción "
              "que le ayude.",
    },
    "host_rejected": {
        "en": "Sorry about that. Who are you here to see?",
        "es": "Disculpe. ¿A quién viene a ver?",
    },
    "ask_info": {
        "en": "Thanks. Could I have your name, your company, and the reason for your visit?",
        "es": "Gracias. ¿Me dice su nombre, su empresa y el motivo de su visita?",
    },
    "ask_group_info": {
        "en": "Thanks. Could I have the names of everyone in your group, your company, and "
              "the reason for your visit?",
        "es": "Gracias. ¿Me dice los nombres de todos, su empresa y el motivo de la visita?",
    },
    "ask_delivery_info": {
        "en": "Thanks. Could I have your name and your company?",
        "es": "Gracias. ¿Me dice su nombre y su empresa?",
    },
    "ask_name": {"en": "Could I have your name, please?", "es": "¿Me dice su nombre, por favor?"},
    "ask_names": {
        "en": "Could I have the names of everyone in your group?",
        "es": "¿Me dice los nombres de todos en su grupo?",
    },
    "ask_company_purpose": {
        "en": "Thanks, {visitor}. What company are you with, and what's the reason for your visit?",
        "es": "Gracias, {visitor}. ¿De qué empresa viene y cuál es el motivo de su visita?",
    },
    "ask_company": {"en": "And what company are you with?", "es": "¿Y de qué empresa viene?"},
    "ask_purpose": {
        "en": "And what's the reason for your visit?",
        "es": "¿Y cuál es el motivo de su visita?",
    },
    "ask_name_for_calendar": {
        "en": "No problem, I can look up your meeting. Could I have your name and your company?",
        "es": "No se preocupe, busco su reunión. ¿Me dice su nombre y su empresa?",
    },
    "meeting_not_found": {
        "en": "I couldn't find your meeting on today's calendar. Who are you here to see?",
        "es": "No encuentro su reunión en el calendario de hoy. ¿A quién viene a ver?",
    },
    "done_visit": {
        "en": "Thanks, {visitor}. I've let {host} know you're here. Please take your badge and "
              "have a seat.",
        "es": "Gracias, {visitor}. Ya avisé a {host} de que está aquí. Tome su credencial y "
              "tome asiento, por favor.",
    },
    "done_visit_no_badge": {
        "en": "Thanks, {visitor}. I've let {host} know you're here. Reception will give you "
              "your badge; please have a seat.",
        "es": "Gracias, {visitor}. Ya avisé a {host}. Recepción le dará su credencial; tome "
              "asiento, por favor.",
    },
    "done_visit_some_badges": {
        "en": "Thanks, {visitor}. I've let {host} know you're here. Please take the badges that "
              "printed; reception will have the others for you. Please have a seat.",
        "es": "Gracias, {visitor}. Ya avisé a {host}. Tomen las credenciales impresas; recepción "
              "les dará las demás. Tomen asiento, por favor.",
    },
    "done_delivery": {
        "en": "Thanks. I've let {host} know there's a delivery for them. They'll be right "
              "with you.",
        "es": "Gracias. Ya avisé a {host} de que tiene una entrega. Enseguida viene.",
    },
    "pending_host": {
        "en": "I couldn't reach {host} just yet, so reception will make sure they know you're "
              "here.",
        "es": "Todavía no he podido avisar a {host}; recepción se asegurará de que lo sepa.",
    },
    "done_pending": {
        "en": "I couldn't reach {host} just yet, so reception will let them know about the "
              "delivery. Someone will be with you shortly.",
        "es": "Todavía no he podido avisar a {host}; recepción le avisará de la entrega. "
              "Enseguida le atienden.",
    },
    "done_badge": {
        "en": "Please take your badge and have a seat; someone will be with you shortly.",
        "es": "Tome su credencial y tome asiento, por favor; enseguida le atienden.",
    },
    "done_some_badges": {
        "en": "Please take the badges that printed; reception has the rest. Someone will be with "
              "you shortly.",
        "es": "Tome las credenciales impresas; recepción tiene las demás. Enseguida le atienden.",
    },
    "done_no_badge": {
        "en": "Reception will have your badge for you; please have a seat.",
        "es": "Recepción tendrá su credencial; tome asiento, por favor.",
    },
    "notify_failed": {
        "en": "I couldn't reach {host} just now. I'll get someone from reception to help you.",
        "es": "No pude avisar a {host}. Voy a pedir a alguien de recepción que le ayude.",
    },
    "transfer": {
        "en": "Of course. I'll get someone from reception for you; please hold on a moment.",
        "es": "Claro. Voy a llamar a alguien de recepción; espere un momento, por favor.",
    },
    "employee_transfer": {
        "en": "Reception can help you with a temporary badge. I'll get someone for you.",
        "es": "Recepción le puede dar una credencial temporal. Voy a llamar a alguien.",
    },
    "not_understood_transfer": {
        "en": "I'm having trouble understanding. I'll get someone from reception to help you.",
        "es": "Me cuesta entenderle. Voy a pedir a alguien de recepción que le ayude.",
    },
    "give_up": {
        "en": "No problem. Have a good day!",
        "es": "No hay problema. ¡Que tenga un buen día!",
    },
    "silence_end": {
        "en": "It seems nobody's there. Goodbye for now.",
        "es": "Parece que no hay nadie. Hasta luego.",
    },
    "no_contact": {
        "en": "I'm sorry, I can't share anyone's contact details, but I can let them know "
              "you're here.",
        "es": "Lo siento, no puedo dar datos de contacto, pero puedo avisarles de que está aquí.",
    },
    "no_other_visitors": {
        "en": "I'm sorry, I can't share anything about other visitors.",
        "es": "Lo siento, no puedo dar información sobre otros visitantes.",
    },
    "no_override": {
        "en": "I can only help you check in.",
        "es": "Solo puedo ayudarle a registrarse.",
    },
    "pardon": {"en": "Sorry, I didn't catch that.", "es": "Perdón, no le entendí."},
    "confirm_again": {
        "en": "Sorry, was that a yes or a no? {question}",
        "es": "Perdón, ¿sí o no? {question}",
    },
    "or": {"en": "or", "es": "o"},
    "in": {"en": "in", "es": "de"},
}


def say(key: str, lang: str, **values: object) -> str:
    """The phrase ``key`` in ``lang`` (English when the phrase has no such language)."""
    table = PHRASES[key]
    return table.get(lang, table["en"]).format(**values)
