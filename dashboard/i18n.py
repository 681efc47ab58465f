"""Every UI string of the dashboard, one dict per language (Russian is the default).

``t(key, **fmt)`` returns the string of the session's language (``st.session_state[LANG]``),
formatted with ``fmt``; a key missing from a language falls back to English, then to the
key itself (tests assert that both dicts have the same keys).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard.state import LANG

LANGUAGES = {"ru": "Русский", "en": "English"}  # code -> name shown in the switch
DEFAULT_LANGUAGE = "ru"

RU: dict[str, str] = {
    # navigation and sidebar
    "nav.gates": "Гейты",
    "nav.gradients": "Градиенты во времени",
    "nav.compare": "Сравнение",
    "cmp.title": "Два текста рядом: чем отличаются гейты и состояния",
    "cmp.intro": "Одна модель, два текста. Токены выровнены по леммам: каждая пара одинаковых слов сравнивается с парой, а лишнее слово (например, «не») видно по тому, где разница появляется. Цвет — B − A.",
    "cmp.pair": "Пара",
    "cmp.mode": "Что сравнить",
    "cmp.mode.texts": "два текста, одна модель",
    "cmp.mode.models": "один текст, две модели",
    "cmp.model_b": "Модель B",
    "cmp.text": "Текст",
    "cmp.no_partner": "Для сравнения моделей нужна вторая модель того же типа ({cell}) и размера.",
    "cmp.pair.negation": "«плохо» / «не плохо»",
    "cmp.pair.but": "без «но» / с «но»",
    "cmp.pair.cue": "две подсказки, всё остальное одинаково",
    "cmp.a": "Текст A",
    "cmp.b": "Текст B",
    "cmp.prediction_a": "Предсказание для A",
    "cmp.prediction_b": "Предсказание для B",
    "cmp.wrong": "{got} ✗ (верно: {right})",
    "cmp.added": "Только в B: {tokens}. С этого места состояния расходятся.",
    "cmp.diff": "B − A",
    "cmp.fig_title": "{q}: B − A по выровненным токенам",
    "nav.training": "Кривые обучения",
    "nav.lab": "Лаборатория дальних зависимостей",
    "nav.explain": "Как это читать",
    "sidebar.language": "Язык",
    "sidebar.checkpoint": "Чекпойнт",
    "sidebar.present": "Режим презентации",
    "gates.order": "Порядок нейронов",
    "gates.structure": "Показать, где видна структура",
    "gates.structure_hint": "cue-lstm на последовательности «подсказка + 60 отвлекающих»: смотрите на память c и гейт забывания — несколько нейронов держат подсказку полосой через всю строку.",
    "play.title": "Пошагово: токен за токеном",
    "play.caption": "Сдвигайте ползунок или нажмите «Пуск»: видно предсказание после каждого префикса и как память и гейты набираются слово за словом (дальше — пусто).",
    "play.reverse": "Обратное направление уже прочитало весь текст с конца: его значения не зависят только от префикса.",
    "play.play": "▶ Пуск",
    "play.pause": "⏸ Пауза",
    "play.step": "Токен",
    "play.fig_title": "{name}: {q}, до токена {step}",
    "play.prediction": "Предсказание после токена {step} «{token}»",
    "order.index": "по номеру",
    "order.activity": "по средней активности",
    "order.change": "по изменчивости",
    "order.cluster": "похожие рядом (кластеры)",
    "sidebar.present_help": "Крупный текст (22 px) и толстые линии для проектора, меньше кнопок. В адресе: ?present=1",
    "sidebar.export": "Формат картинки (кнопка-камера графика)",
    "sidebar.export_help": "Кнопка-камера на панели каждого графика скачивает его в этом формате.",
    # errors and checkpoints
    "error.generic": "Не удалось построить страницу ({kind}): {msg}. Подробности записаны в журнал сервера.",
    "ckpt.none": "Чекпойнтов не найдено в {root}. Обучите модели (python -m lstmviz.train) или укажите "
    "каталог в переменной LSTMVIZ_CHECKPOINTS.",
    "ckpt.bad": "Чекпойнт не читается: {error}",
    "ckpt.regress": "Чекпойнт {name} — регрессия (задача сложения), текст ему не подать. Выберите другой.",
    "download.csv": "Скачать данные (CSV)",
    # text input
    "text.preset": "Готовые примеры",
    "text.preset_placeholder": "Выберите пример…",
    "text.label": "Текст",
    "text.empty": "Введите текст (или выберите пример), чтобы увидеть, что происходит внутри модели.",
    "text.no_tokens": "В тексте нет слов, которые модель может прочитать (только пробелы или знаки препинания). "
    "Введите хотя бы одно слово.",
    "text.invalid": "Этот текст модель принять не может ({msg}).",
    "text.cue_unknown": "Эта модель понимает только свои токены, через пробел: {names}",
    "text.truncated": "Текст длиннее предела модели: показаны только первые {n} токенов.",
    "text.all_unknown": "Ни одного слова нет в словаре модели: все токены стали <unk> (UNK). Модель видит "
    "один и тот же «неизвестный» вектор, поэтому её ответ почти не зависит от текста. Попробуйте русские слова "
    "из отзывов.",
    "text.some_unknown": "Слов вне словаря: {n} (помечены ⁇ на осях и UNK в таблице); модель видит их как <unk>.",
    "col.unknown": "вне словаря",
    "col.unit": "нейрон",
    "col.mean_abs": "средний |x|",
    "col.mean_abs_change": "среднее |Δx|",
    "col.rank_by": "отбор",
    "rank.activity": "активность",
    "rank.change": "изменчивость",
    "kind.word": "слово",
    "kind.latin": "латиница",
    "kind.number": "число",
    "kind.url": "ссылка",
    "kind.mention": "упоминание",
    "kind.emoji": "эмодзи",
    "kind.punct": "знак",
    "kind.filler": "заполнитель",
    "metric.accuracy": "точность (тест)",
    "metric.macro_f1": "макро-F1 (тест)",
    "metric.loss": "потеря (тест)",
    "metric.n": "примеров (тест)",
    "metric.chance_accuracy": "точность наугад",
    "metric.mse": "MSE (тест)",
    "metric.baseline_mse": "MSE среднего",
    "plot.hover_token": "токен",
    "plot.underflow": "0 (меньше 1e-308: антипереполнение float64)",
    "plot.val": "валидация",
    "plot.test": "тест",
    "col.token": "токен",
    "col.lemma": "лемма",
    "col.kind": "тип",
    "col.model": "модель",
    "col.cell": "ячейка",
    "col.params": "параметров",
    "col.epochs": "эпох",
    "col.sec_epoch": "с/эпоха",
    "dir.fwd": "прямое",
    "dir.rev": "обратное",
    "layer.label": "слой {layer}, направление: {direction}",
    # chart axis titles and legend parts (lstmviz.plots.DEFAULT_LABELS keys)
    "plot.step": "номер токена t",
    "plot.distance": "расстояние до конца (T−1−t)",
    "plot.unit": "нейрон",
    "plot.value": "значение",
    "plot.prob": "P(класс | префикс)",
    "plot.grad_norm": "норма градиента",
    "plot.grad_rel": "‖∂L/∂h_t‖ / ‖∂L/∂h_T‖ (float64)",
    "plot.bound": "граница Pascanu",
    "plot.forget_product": "Π f (t+1..T), среднее по нейронам",
    "plot.epoch": "эпоха",
    "plot.loss": "потеря",
    "plot.acc": "точность",
    "plot.f1": "макро-F1",
    "plot.log_grad": "log10 ‖∂L/∂h‖",
    "plot.lag": "лаг (отвлекающих токенов между подсказкой и вопросом)",
    "plot.test_acc": "точность на тесте",
    "plot.chance": "шанс",
    "plot.frac_low": "доля шагов < 0.1 (насыщение снизу)",
    "plot.frac_high": "доля шагов > 0.9 (насыщение сверху)",
    # quantities
    "q.input": "входной гейт i",
    "q.forget": "гейт забывания f",
    "q.cell_candidate": "кандидат g",
    "q.output": "выходной гейт o",
    "q.cell": "состояние ячейки c",
    "q.hidden": "скрытое состояние h",
    "q.reset": "гейт сброса r",
    "q.update": "гейт обновления z",
    "q.new": "кандидат n",
    # gates view
    "gates.title": "Гейты и состояния по токенам",
    "gates.intro": "Одно предложение через одну модель: значения каждого гейта и состояния на каждом токене. "
    "Шкалы цветов фиксированы: гейты от 0 до 1, кандидат и h от −1 до 1, c — симметрично вокруг 0.",
    "gates.prediction": "Предсказание",
    "gates.probs": "Вероятности классов после каждого префикса",
    "gates.layer": "Слой и направление",
    "unit.title": "Один нейрон крупным планом",
    "unit.number": "Нейрон",
    "unit.colour_by": "Раскрасить текст по",
    "unit.lines": "Нейрон {unit}: все сигналы по токенам",
    "unit.text": "Текст, окрашенный по нейрону {unit} ({q})",
    "top.title": "Самые активные и самые изменчивые нейроны",
    "top.caption": "По величине: среднее |{q}|; по изменчивости: среднее |Δ| между соседними токенами.",
    "sat.title": "Насыщение гейтов",
    "sat.no_gates": "У простой RNN нет гейтов — насыщение не определено.",
    "sat.corpus": "Сравнить с выборкой корпуса (200 предложений) и с необученной моделью",
    "sat.no_corpus": "Корпус не найден ({path}); показано только это предложение.",
    "sat.sentence": "это предложение",
    "sat.trained": "корпус, обученная",
    "sat.untrained": "корпус, необученная",
    # gradients view
    "grads.loss_to": "потеря → {label}",
    "grads.reach": "Дальность без потери: ‖∂h_T/∂s_t‖₂",
    "grads.reach_caption": "Насколько состояние на шаге t (для LSTM — пара h_t, c_t) ещё может сдвинуть последнее "
    "скрытое состояние: спектральная норма точного произведения якобианов шагов, в float64. Не зависит ни от "
    "потери, ни от уверенности модели. Убывание здесь и есть затухание градиента.",
    "grads.reach_title": "‖∂h_T/∂s_t‖₂ от расстояния до конца",
    "grads.reach_first": "У первого токена: {items}. Для RNN сравните с σ_max(W_hh) выше: нормы отдельных шагов "
    "не малы, затухание даёт то, как якобианы шагов складываются в произведение.",
    "grads.epochs": "Как обучение меняет градиент: эпоха 1 и лучшая эпоха",
    "grads.epochs_caption": "Сохранённые при обучении профили: средняя ‖∂L/∂h_t‖ на фиксированной пачке "
    "валидационных примеров (float32), строки — модель и эпоха, столбцы — расстояние от конца. Одна шкала цвета "
    "для всех строк: тёмное — слабый градиент; пусто справа — пробные последовательности этой модели короче.",
    "grads.epochs_title": "Профиль градиента: эпоха 1 и лучшая",
    "plot.reach": "‖∂h_T/∂s_t‖₂ (без потери, float64)",
    "class.negative": "негатив",
    "class.neutral": "нейтрально",
    "class.positive": "позитив",
    "class.mixed": "смешанное",
    "grads.title": "Градиенты во времени: RNN, GRU, LSTM",
    "grads.intro": "Одно предложение через несколько моделей. Потеря — кросс-энтропия к предсказанному (или "
    "выбранному) классу; показаны нормы ‖∂L/∂h_t‖ (сплошные) и ‖∂L/∂c_t‖ (пунктир) верхнего слоя на одной "
    "логарифмической оси.",
    "grads.models": "Модели",
    "grads.pick": "Выберите хотя бы одну модель.",
    "grads.target": "Цель потери",
    "grads.scale": "Шкала кривых",
    "grads.classroom": "Сценарий для лекции: cue-модели, {lag} отвлекающих токенов",
    "grads.scale.rel": "относительно последнего токена (каждая кривая начинается с 1)",
    "grads.scale.raw": "абсолютные нормы",
    "grads.predicted": "предсказанный класс",
    "grads.by_token": "Норма градиента по токенам",
    "grads.by_distance": "Норма градиента от расстояния до конца",
    "grads.ratio": "Доля градиента, дошедшая от конца до первого токена, ‖∂L/∂h₀‖/‖∂L/∂h_T‖ (считается в float64: "
    "в float32 на длинных текстах она обнуляется): {items}",
    "grads.pascanu": "{name}: σ_max(W_hh) = {sigma} < 1 (спектральный радиус {rho}), поэтому граница Pascanu et al. "
    "(2013) ‖∂L/∂h_T‖·σ_max^(T−t) (серый пунктир) гарантирует затухание: градиент не может лежать выше неё.",
    "grads.pascanu_loose": "{name}: σ_max(W_hh) = {sigma} ≥ 1 (спектральный радиус {rho}), поэтому граница Pascanu "
    "et al. (2013) ‖∂L/∂h_T‖·σ_max^(T−t) растёт с расстоянием и ничего не говорит об этой модели — она не "
    "нарисована. Затухание здесь идёт от того, как складываются якобианы шагов diag(1−h²)·W_hh, а не от их норм.",
    "grads.saliency": "Чувствительность к словам ‖∂L/∂x_t‖",
    "grads.forget": "Произведение гейтов забывания и ‖∂L/∂c_t‖",
    "grads.forget_caption": "Прямой путь градиента через ячейку: ∂c_T/∂c_t = Π f_k (k = t+1..T). Если гейты "
    "забывания близки к 1, произведение не падает — и градиент по c доживает до начала текста.",
    "whatif.title": "Что если… (на частной копии модели)",
    "whatif.caption": "Изменения применяются к копии; общая модель не меняется.",
    "whatif.filler": "Нейтральных токенов вставить",
    "whatif.filler_at": "Куда",
    "whatif.filler_at.auto": "авто (cue: после подсказки; текст: в начало)",
    "whatif.filler_at.start": "в начало",
    "whatif.filler_at.before_last": "перед последним токеном",
    "whatif.filler_at.after": "после k-го токена",
    "whatif.filler_k": "k (сколько токенов до вставки)",
    "whatif.whh": "Множитель W_hh",
    "whatif.bias": "Сдвиг смещения гейта забывания (у GRU — z)",
    "whatif.untrained": "Необученная (та же архитектура)",
    # training view
    "train.title": "Кривые обучения",
    "train.intro": "Из истории, сохранённой в meta.json каждого чекпойнта: сплошная линия — обучение, "
    "пунктир — валидация.",
    "train.models": "Чекпойнты",
    "train.pick": "Выберите хотя бы один чекпойнт.",
    "train.no_history": "В выбранных чекпойнтах нет истории обучения.",
    "train.curves": "Потеря, точность и макро-F1 по эпохам",
    "train.table": "Размер, скорость и метрики на тесте",
    "train.profile": "Профиль градиента по эпохам",
    "train.profile_caption": "Строки — эпохи (эпоха 1 внизу), столбцы — расстояние от конца последовательности "
    "(0 — последний токен, справа — начало). Цвет — log10 среднего ‖∂L/∂h_t‖ на пробном батче (верхний слой), одна "
    "шкала для всех моделей. Если цвет темнеет вправо, градиент затухает, не дойдя до начала; изменение от строки к "
    "строке показывает, как это меняет обучение.",
    "train.profile_zeros": "{n} клеток пусты: в float32 профиль там ровно 0 (антипереполнение), а не «нет данных».",
    "train.no_profile": "{name}: профиль градиента не сохранён.",
    # lab view
    "lab.title": "Лаборатория дальних зависимостей",
    "lab.intro": "Вспомнить подсказку (cue recall): первый токен — страна, затем «лаг» отвлекающих токенов, в конце «?»; нужно назвать "
    "язык страны (шанс 1/4). Задача сложения: длинная последовательность чисел, два помечены, нужно выдать их сумму "
    "(предсказание среднего даёт MSE 1/6). Обучение идёт на свежих примерах каждый шаг — запомнить выборку нельзя.",
    "lab.no_sweep": "Файл с результатами не найден: {path}. Команды для всех файлов — в checkpoints/RETRAIN.md.",
    "lab.sweep_title": "Доля успешных запусков от лага: смещение ворот {bias}, {seeds} сидов на точку",
    "lab.sweep_caption": "Успех — точность ≥ {thr} на отложенной выборке за {budget} шагов (смещение ворот {bias}, "
    "{hidden} нейронов). Литература ожидает, что доля успехов RNN падает к 0 к лагу 100–200, а GRU и LSTM держатся "
    "дольше. Справа — итоговая точность каждого сида; пунктир — шанс. Время прогона: {minutes} мин на {workers} ядрах.",
    "lab.bias_title": "Доля успехов на лаге {lag} от начального смещения ворот забывания/обновления",
    "lab.bias_caption": "Серая кривая — σ(b)^лаг: какая доля h₀ сохраняется воротами при инициализации; открытые "
    "маркеры — измеренное отношение ‖∂L/∂h₀‖/‖∂L/∂h_T‖ (float64) при инициализации. Jozefowicz и др. (2015) "
    "советуют b = 1 для LSTM.",
    "lab.adding_title": "Задача сложения: доля успехов (MSE ≤ {thr}) от длины",
    "lab.table": "Таблица",
    "lab.col.cell": "ячейка",
    "lab.col.lag": "лаг",
    "lab.col.gate_bias": "смещение ворот",
    "lab.col.solved": "решено",
    "lab.col.n": "сидов",
    "lab.col.success_rate": "доля успехов",
    "lab.col.median_updates_to_solve": "медиана шагов до успеха",
    "lab.col.final_mean": "итог, среднее",
    "lab.col.final_sd": "итог, ст. откл.",
    "lab.col.grad_ratio_init_median": "‖∂L/∂h₀‖/‖∂L/∂h_T‖ при иниц.",
    "lab.col.sigmoid_bias_pow_lag": "σ(b)^лаг",
    "lab.col.preset": "пресет",
    "lab.col.seed": "сид",
    "lab.col.final": "итог на отложенной",
    "lab.col.solved_at": "решено на шаге",
    "lab.col.seconds": "секунд",
    "lab.live_title": "Обучение вживую",
    "lab.live_caption": "Одна задача на весь сервер: RNN, GRU и LSTM учатся по очереди через общий тренер библиотеки; "
    "ячейка, достигшая успеха, останавливается. Задача продолжается при перезагрузке страницы.",
    "lab.preset": "Пресет",
    "lab.preset.separate": "Разделяет ячейки (cue recall, лаг 100)",
    "lab.preset.short": "Короткий лаг (cue recall, лаг 5)",
    "lab.preset.adding": "Задача сложения (длина 50)",
    "lab.preset.custom": "Свои настройки",
    "lab.task": "Задача",
    "lab.task.cue_recall": "вспомнить подсказку (cue recall)",
    "lab.task.adding": "сложение",
    "lab.lag": "Лаг (cue recall) / длина (сложение)",
    "lab.updates": "Шагов обучения на ячейку",
    "lab.bias": "Смещение ворот забывания/обновления",
    "lab.seed": "Сид",
    "lab.estimate": "Оценка времени: около {s} с, если каждая ячейка израсходует весь бюджет шагов (решившие "
    "останавливаются раньше; на загруженном сервере дольше). Замерено здесь и сейчас на нескольких шагах.",
    "lab.measured": "Измерено на {n} сидах для этого пресета:",
    "lab.verdict.separates": "Разделяет: на каждом сиде RNN не решает задачу (у шанса), а GRU и LSTM решают "
    "(порог {thr}); самый долгий запуск {s} с.",
    "lab.verdict.all_solve": "Не разделяет: все три ячейки решают задачу на каждом сиде; самый долгий запуск {s} с.",
    "lab.verdict.mixed": "Не разделяет на этом размере: на некоторых сидах RNN решает задачу или GRU/LSTM не решают "
    "(см. таблицу); самый долгий запуск {s} с.",
    "lab.start": "Запустить",
    "lab.stop": "Остановить",
    "lab.busy": "Уже идёт обучение (возможно, запущенное другим пользователем). Дождитесь окончания.",
    "lab.idle": "Задача ещё не запускалась.",
    "lab.live": "{task}, лаг {lag}: обучение и отложенная выборка",
    "lab.solved": "{cell}: успех после {n} шагов",
    "lab.not_solved": "{cell}: нет успеха за {n} шагов",
    "lab.stop_reason.user": "Остановлено кнопкой «Стоп».",
    "lab.stop_reason.time_limit": "Остановлено: задача обучения идёт не дольше {minutes} минут.",
    "lab.stop_reason.unwatched": "Остановлено: {idle} с никто не открывал эту страницу.",
    "lab.stop_reason.shutdown": "Остановлено: сервер завершает работу.",
    "lab.state.running": "Идёт обучение, лаг {lag}, {s} с",
    "lab.state.done": "Готово: лаг {lag}, {s} с",
    "lab.state.stopped": "Остановлено: лаг {lag}, {s} с",
    "lab.state.error": "Ошибка: лаг {lag}, {s} с",
    "plot.success_rate": "доля успешных сидов",
    "plot.success_panel": "доля успехов (планки: 95% интервал Уилсона)",
    "plot.final_panel": "итог каждого сида на тесте",
    "plot.seq_len": "длина последовательности",
    "plot.gate_bias": "смещение b ворот забывания/обновления при инициализации",
    "plot.updates": "шагов обучения",
    "plot.grad_ratio": "‖∂L/∂h₀‖ / ‖∂L/∂h_T‖ (float64)",
    "plot.sigma_pow": "σ(b)^лаг (доля h₀, сохраняемая воротами)",
    "plot.measured_ratio": "измеренное отношение градиентов при иниц.",
    "plot.seed": "сид",
    "plot.mean": "среднее",
    "plot.train": "обучение",
    "plot.held_out": "отложенная",
    "plot.mse": "MSE",
    "plot.baseline_mse": "предсказывать среднее (MSE 1/6)",
    "plot.threshold": "порог успеха",
    "plot.solved": "решено",
    "plot.log_scale": "σ(b)^лаг, отношение (лог.)",
    # explain view
    "explain.title": "Как это читать",
    "explain.intro": "Формулы — в порядке гейтов PyTorch (документация nn.LSTM, nn.GRU, nn.RNN). σ — сигмоида "
    "(значения 0…1), ⊙ — поэлементное произведение. Названия величин на графиках совпадают с подписями справа.",
    "explain.lstm": "Гейт забывания f решает, какая доля старой памяти c остаётся; входной гейт i — сколько "
    "нового кандидата g записать; выходной o — что из памяти показать в h.",
    "explain.gru": "У GRU одна память h. В соглашении PyTorch z — доля **старого** состояния: z ≈ 1 — "
    "«помнить», z ≈ 0 — «заменить новым» n. Гейт сброса r решает, сколько прошлого брать при расчёте n.",
    "explain.grads_title": "Почему градиенты затухают",
    "explain.grads": "Затухание — это произведение якобианов шагов: у RNN каждый шаг назад умножает градиент на "
    "diag(1−h²)·W_hh. Если σ_max(W_hh) < 1, норма обязана падать экспоненциально (граница Pascanu et al., 2013); "
    "если σ_max ≥ 1, граница ничего не запрещает, и градиент всё равно может затухать — из-за того, как "
    "складываются якобианы (обученные RNN здесь именно такие: σ_max ≈ 2.8–3.0). У LSTM есть прямой путь через ячейку c "
    "с множителем Π f_t (гейты забывания); при инициализации он ≈ σ(b_f)^лаг, поэтому смещение b_f решает, дойдёт "
    "ли градиент через длинный промежуток.",
    "explain.read_title": "Как читать графики",
    "explain.read_gates": "**Гейты.** Строки — нейроны, столбцы — токены. Жёлтый — гейт открыт (≈1), тёмно-синий "
    "— закрыт (≈0). Вертикальная полоса — слово, на которое реагирует много нейронов; горизонтальная — нейрон, "
    "который держит значение долго (память). Токены вне словаря помечены ⁇.",
    "explain.read_grads": "**Градиенты.** Ось Y логарифмическая: прямая линия — экспоненциальное затухание. "
    "По умолчанию каждая кривая поделена на своё значение у последнего токена и начинается с 1, так что уверенность "
    "модели не сдвигает кривые. График «дальности» ‖∂h_T/∂s_t‖₂ не зависит от потери вовсе. Значение ниже 1e-300 "
    "рисуется крестиком у нижнего края, а не пропадает. Раскраска текста ‖∂L/∂x_t‖ у всех моделей в одной шкале.",
    "explain.read_training": "**Обучение.** Расхождение сплошной (обучение) и пунктирной (валидация) линий — переобучение. "
    "Тепловая карта профиля градиента показывает, как с эпохами меняется затухание по расстоянию.",
    "explain.read_lab": "**Лаборатория.** Если точность падает до уровня шанса с ростом лага, модель не доносит "
    "подсказку до конца последовательности.",
    "explain.example_title": "Пример для лекции: подсказка и 100 отвлекающих токенов",
    "explain.example": "Кнопка «Сценарий для лекции» на странице «Градиенты во времени» подаёт трём cue-моделям "
    "последовательность «france», 100 отвлекающих токенов и вопрос «?». Чтобы ответить, модель должна пронести "
    "подсказку через весь промежуток. У RNN нормированный градиент у подсказки меньше 1e-3 от градиента LSTM (это "
    "проверяет тест), обычно на много порядков. Ползунок нейтральных токенов у cue-моделей вставляет их после "
    "подсказки и удлиняет именно промежуток до вопроса; для текста место вставки выбирается.",
}

EN: dict[str, str] = {
    "nav.gates": "Gates",
    "nav.gradients": "Gradients through time",
    "nav.compare": "Comparison",
    "cmp.title": "Two texts side by side: how the gates and states differ",
    "cmp.intro": "One model, two texts. Tokens are aligned by lemma: each pair of equal words is compared with its partner, and an extra word (such as «не») shows where the difference starts. Colour is B − A.",
    "cmp.pair": "Pair",
    "cmp.mode": "What to compare",
    "cmp.mode.texts": "two texts, one model",
    "cmp.mode.models": "one text, two models",
    "cmp.model_b": "Model B",
    "cmp.text": "Text",
    "cmp.no_partner": "Comparing models needs a second model of the same kind ({cell}) and size.",
    "cmp.pair.negation": "«плохо» / «не плохо» (bad / not bad)",
    "cmp.pair.but": "without / with «но» (but)",
    "cmp.pair.cue": "two cues, everything else equal",
    "cmp.a": "Text A",
    "cmp.b": "Text B",
    "cmp.prediction_a": "Prediction for A",
    "cmp.prediction_b": "Prediction for B",
    "cmp.wrong": "{got} ✗ (right: {right})",
    "cmp.added": "Only in B: {tokens}. The states part from there on.",
    "cmp.diff": "B − A",
    "cmp.fig_title": "{q}: B − A over the aligned tokens",
    "nav.training": "Training curves",
    "nav.lab": "Long-range lab",
    "nav.explain": "How to read this",
    "sidebar.language": "Language",
    "sidebar.checkpoint": "Checkpoint",
    "sidebar.present": "Presentation mode",
    "gates.order": "Order of units",
    "gates.structure": "Show where structure is visible",
    "gates.structure_hint": "cue-lstm on “cue + 60 distractors”: look at the memory c and the forget gate: a few units hold the cue as a band across the whole row.",
    "play.title": "Step by step: token after token",
    "play.caption": "Move the slider or press Play: the prediction after each prefix, and how memory and gates build up word by word (later tokens are blank).",
    "play.reverse": "The reverse direction has already read the whole text from the end: its values do not depend on the prefix alone.",
    "play.play": "▶ Play",
    "play.pause": "⏸ Pause",
    "play.step": "Token",
    "play.fig_title": "{name}: {q}, up to token {step}",
    "play.prediction": "Prediction after token {step} “{token}”",
    "order.index": "by number",
    "order.activity": "by mean activity",
    "order.change": "by change",
    "order.cluster": "similar side by side (clusters)",
    "sidebar.present_help": "Large text (22 px) and thick lines for a projector, fewer buttons. In the URL: ?present=1",
    "sidebar.export": "Image format (chart camera button)",
    "sidebar.export_help": "The camera button on each chart's toolbar downloads it in this format.",
    "error.generic": "This page could not be built ({kind}): {msg}. Details are in the server log.",
    "ckpt.none": "No checkpoints found in {root}. Train models (python -m lstmviz.train) or point "
    "LSTMVIZ_CHECKPOINTS at a checkpoint directory.",
    "ckpt.bad": "Cannot read checkpoint: {error}",
    "ckpt.regress": "Checkpoint {name} is a regression model (adding problem) and takes no text. Pick another one.",
    "download.csv": "Download data (CSV)",
    "text.preset": "Examples",
    "text.preset_placeholder": "Pick an example…",
    "text.label": "Text",
    "text.empty": "Enter a text (or pick an example) to see what happens inside the model.",
    "text.no_tokens": "The text has no words the model can read (only spaces or punctuation). Enter at least "
    "one word.",
    "text.invalid": "The model cannot take this text ({msg}).",
    "text.cue_unknown": "This model reads only its own tokens, separated by spaces: {names}",
    "text.truncated": "The text is longer than the model's limit: only the first {n} tokens are shown.",
    "text.all_unknown": "None of the words is in the model's vocabulary: every token became <unk> (UNK). The model "
    "sees the same 'unknown' vector each time, so its answer barely depends on the text. Try Russian review words.",
    "text.some_unknown": "Out-of-vocabulary words: {n} (marked ⁇ on axes and UNK in the table); the model sees "
    "them as <unk>.",
    "col.unknown": "out of vocabulary",
    "col.unit": "unit",
    "col.mean_abs": "mean |x|",
    "col.mean_abs_change": "mean |Δx|",
    "col.rank_by": "ranked by",
    "rank.activity": "activity",
    "rank.change": "change",
    "kind.word": "word",
    "kind.latin": "Latin",
    "kind.number": "number",
    "kind.url": "link",
    "kind.mention": "mention",
    "kind.emoji": "emoji",
    "kind.punct": "punctuation",
    "kind.filler": "filler",
    "metric.accuracy": "test accuracy",
    "metric.macro_f1": "test macro-F1",
    "metric.loss": "test loss",
    "metric.n": "test examples",
    "metric.chance_accuracy": "chance accuracy",
    "metric.mse": "test MSE",
    "metric.baseline_mse": "MSE of the mean",
    "plot.hover_token": "token",
    "plot.underflow": "0 (below 1e-308: float64 underflow)",
    "plot.val": "validation",
    "plot.test": "test",
    "col.token": "token",
    "col.lemma": "lemma",
    "col.kind": "kind",
    "col.model": "model",
    "col.cell": "cell",
    "col.params": "parameters",
    "col.epochs": "epochs",
    "col.sec_epoch": "s/epoch",
    "dir.fwd": "forward",
    "dir.rev": "reverse",
    "layer.label": "layer {layer}, direction: {direction}",
    # chart axis titles and legend parts (lstmviz.plots.DEFAULT_LABELS keys)
    "plot.step": "token index t",
    "plot.distance": "distance from the end (T-1-t)",
    "plot.unit": "unit",
    "plot.value": "value",
    "plot.prob": "P(class | prefix)",
    "plot.grad_norm": "gradient norm",
    "plot.grad_rel": "‖∂L/∂h_t‖ / ‖∂L/∂h_T‖ (float64)",
    "plot.bound": "Pascanu bound",
    "plot.forget_product": "Π f (t+1..T), mean over units",
    "plot.epoch": "epoch",
    "plot.loss": "loss",
    "plot.acc": "accuracy",
    "plot.f1": "macro F1",
    "plot.log_grad": "log10 ‖∂L/∂h‖",
    "plot.lag": "lag (distractor tokens between cue and query)",
    "plot.test_acc": "test accuracy",
    "plot.chance": "chance",
    "plot.frac_low": "fraction of steps < 0.1 (left-saturated)",
    "plot.frac_high": "fraction of steps > 0.9 (right-saturated)",
    "q.input": "input gate i",
    "q.forget": "forget gate f",
    "q.cell_candidate": "candidate g",
    "q.output": "output gate o",
    "q.cell": "cell state c",
    "q.hidden": "hidden state h",
    "q.reset": "reset gate r",
    "q.update": "update gate z",
    "q.new": "candidate n",
    "gates.title": "Gates and states, token by token",
    "gates.intro": "One sentence through one model: every gate and state at every token. Colour scales are fixed: "
    "gates 0 to 1, candidate and h −1 to 1, c symmetric around 0.",
    "gates.prediction": "Prediction",
    "gates.probs": "Class probabilities after each prefix",
    "gates.layer": "Layer and direction",
    "unit.title": "One unit up close",
    "unit.number": "Unit",
    "unit.colour_by": "Colour the text by",
    "unit.lines": "Unit {unit}: every signal, token by token",
    "unit.text": "Text coloured by unit {unit} ({q})",
    "top.title": "Most active and most changing units",
    "top.caption": "Activity: mean |{q}|; change: mean |Δ| between neighbouring tokens.",
    "sat.title": "Gate saturation",
    "sat.no_gates": "A plain RNN has no gates, so saturation is undefined.",
    "sat.corpus": "Compare with a corpus sample (200 sentences) and with an untrained model",
    "sat.no_corpus": "Corpus not found ({path}); showing this sentence only.",
    "sat.sentence": "this sentence",
    "sat.trained": "corpus, trained",
    "sat.untrained": "corpus, untrained",
    "grads.loss_to": "loss → {label}",
    "grads.reach": "Loss-free reach: ‖∂h_T/∂s_t‖₂",
    "grads.reach_caption": "How much the state at step t (for the LSTM the pair h_t, c_t) can still move the last "
    "hidden state: the spectral norm of the exact product of step Jacobians, in float64. It depends neither on the "
    "loss nor on how sure the model is. Its fall is the vanishing gradient.",
    "grads.reach_title": "‖∂h_T/∂s_t‖₂ vs distance from the end",
    "grads.reach_first": "At the first token: {items}. For the RNN compare σ_max(W_hh) above: single steps are not "
    "small; vanishing comes from how the step Jacobians combine in the product.",
    "grads.epochs": "How training changes the gradient: epoch 1 and the best epoch",
    "grads.epochs_caption": "Profiles stored during training: mean ‖∂L/∂h_t‖ over a fixed batch of validation "
    "examples (float32); rows are model and epoch, columns the distance from the end. One colour scale for every "
    "row: dark is a weak gradient; blank on the right: this model's probe sequences are shorter.",
    "grads.epochs_title": "Gradient profile: epoch 1 and the best",
    "plot.reach": "‖∂h_T/∂s_t‖₂ (no loss, float64)",
    "class.negative": "negative",
    "class.neutral": "neutral",
    "class.positive": "positive",
    "class.mixed": "mixed",
    "grads.title": "Gradients through time: RNN, GRU, LSTM",
    "grads.intro": "One sentence through several models. The loss is cross-entropy to the predicted (or chosen) "
    "class; ‖∂L/∂h_t‖ (solid) and ‖∂L/∂c_t‖ (dashed) of the top layer share one log axis.",
    "grads.models": "Models",
    "grads.pick": "Pick at least one model.",
    "grads.target": "Loss target",
    "grads.scale": "Curve scale",
    "grads.classroom": "Classroom scenario: cue models, {lag} distractors",
    "grads.scale.rel": "relative to the last token (every curve starts at 1)",
    "grads.scale.raw": "raw norms",
    "grads.predicted": "predicted class",
    "grads.by_token": "Gradient norm per token",
    "grads.by_distance": "Gradient norm vs distance from the end",
    "grads.ratio": "Share of the gradient that reaches the first token from the end, ‖∂L/∂h₀‖/‖∂L/∂h_T‖ (computed "
    "in float64: in float32 it becomes exactly 0 on long texts): {items}",
    "grads.pascanu": "{name}: σ_max(W_hh) = {sigma} < 1 (spectral radius {rho}), so the Pascanu et al. (2013) bound "
    "‖∂L/∂h_T‖·σ_max^(T−t) (dotted grey) forces vanishing: the gradient cannot lie above it.",
    "grads.pascanu_loose": "{name}: σ_max(W_hh) = {sigma} ≥ 1 (spectral radius {rho}), so the Pascanu et al. (2013) "
    "bound ‖∂L/∂h_T‖·σ_max^(T−t) grows with the distance and says nothing about this model; it is not drawn. The "
    "decay here comes from how the step Jacobians diag(1−h²)·W_hh align, not from their norms.",
    "grads.saliency": "Word saliency ‖∂L/∂x_t‖",
    "grads.forget": "Forget-gate running product and ‖∂L/∂c_t‖",
    "grads.forget_caption": "The cell's direct gradient path: ∂c_T/∂c_t = Π f_k (k = t+1..T). While forget gates "
    "stay near 1 the product does not shrink, and the gradient through c reaches the start of the text.",
    "whatif.title": "What if… (on a private copy of the model)",
    "whatif.caption": "Changes apply to a copy; the shared model is never modified.",
    "whatif.filler": "Neutral tokens inserted",
    "whatif.filler_at": "Where",
    "whatif.filler_at.auto": "auto (cue: after the cue; text: at the start)",
    "whatif.filler_at.start": "at the start",
    "whatif.filler_at.before_last": "before the last token",
    "whatif.filler_at.after": "after token k",
    "whatif.filler_k": "k (tokens before the fillers)",
    "whatif.whh": "W_hh scale",
    "whatif.bias": "Forget-gate bias shift (GRU: z)",
    "whatif.untrained": "Untrained (same architecture)",
    "train.title": "Training curves",
    "train.intro": "From the history stored in each checkpoint's meta.json: solid is training, dashed is validation.",
    "train.models": "Checkpoints",
    "train.pick": "Pick at least one checkpoint.",
    "train.no_history": "The selected checkpoints have no training history.",
    "train.curves": "Loss, accuracy and macro-F1 per epoch",
    "train.table": "Size, speed and test metrics",
    "train.profile": "Gradient profile over epochs",
    "train.profile_caption": "Rows are epochs (epoch 1 at the bottom), columns the distance from the end of the "
    "sequence (0 = the last token, right = the start). Colour: log10 of the mean ‖∂L/∂h_t‖ over a probe batch (top "
    "layer), one scale for every model. A colour that darkens to the right means the gradient fades before it "
    "reaches the start; changes from row to row show training changing it.",
    "train.profile_zeros": "{n} cells are blank: the float32 profile is exactly 0 there (underflow), not missing.",
    "train.no_profile": "{name}: no gradient profile stored.",
    "lab.title": "Long-range lab",
    "lab.intro": "Cue recall: the first token is a country, then a 'lag' of distractor tokens, then '?'; the model "
    "must name the country's language (chance 1/4). Adding problem: a long sequence of numbers, two of them marked; "
    "output their sum (predicting the mean gives MSE 1/6). Training draws fresh examples every update: there is "
    "nothing to memorise.",
    "lab.no_sweep": "Results file not found: {path}. The commands that write every file are in checkpoints/RETRAIN.md.",
    "lab.sweep_title": "Share of successful runs vs lag: gate bias {bias}, {seeds} seeds per point",
    "lab.sweep_caption": "Success = held-out accuracy ≥ {thr} within {budget} updates (gate bias {bias}, {hidden} "
    "units). The literature expects the RNN's success rate to fall towards 0 by lag 100–200 while GRU and LSTM last "
    "longer. Right: every seed's final accuracy; dotted: chance. Sweep time: {minutes} min on {workers} cores.",
    "lab.bias_title": "Success at lag {lag} vs the initial forget / update gate bias",
    "lab.bias_caption": "Grey curve: σ(b)^lag, the share of h₀ the gate keeps at initialisation; open markers: the "
    "measured ‖∂L/∂h₀‖/‖∂L/∂h_T‖ (float64) at initialisation. Jozefowicz et al. (2015) recommend b = 1 for the LSTM.",
    "lab.adding_title": "Adding problem: success rate (MSE ≤ {thr}) vs length",
    "lab.table": "Table",
    "lab.col.cell": "cell",
    "lab.col.lag": "lag",
    "lab.col.gate_bias": "gate bias",
    "lab.col.solved": "solved",
    "lab.col.n": "seeds",
    "lab.col.success_rate": "success rate",
    "lab.col.median_updates_to_solve": "median updates to solve",
    "lab.col.final_mean": "final, mean",
    "lab.col.final_sd": "final, sd",
    "lab.col.grad_ratio_init_median": "‖∂L/∂h₀‖/‖∂L/∂h_T‖ at init",
    "lab.col.sigmoid_bias_pow_lag": "σ(b)^lag",
    "lab.col.preset": "preset",
    "lab.col.seed": "seed",
    "lab.col.final": "final held-out",
    "lab.col.solved_at": "solved at update",
    "lab.col.seconds": "seconds",
    "lab.live_title": "Live training",
    "lab.live_caption": "One job for the whole server: RNN, GRU and LSTM train one after another through the "
    "library's trainer; a cell that succeeds stops. The job survives a page reload.",
    "lab.preset": "Preset",
    "lab.preset.separate": "Separates the cells (cue recall, lag 100)",
    "lab.preset.short": "Short lag (cue recall, lag 5)",
    "lab.preset.adding": "Adding problem (length 50)",
    "lab.preset.custom": "Custom",
    "lab.task": "Task",
    "lab.task.cue_recall": "cue recall",
    "lab.task.adding": "adding",
    "lab.lag": "Lag (cue recall) / length (adding)",
    "lab.updates": "Training updates per cell",
    "lab.bias": "Forget / update gate bias",
    "lab.seed": "Seed",
    "lab.estimate": "Estimated time: about {s} s if every cell uses its whole update budget (cells that succeed stop "
    "earlier; a busy server is slower). Timed here and now on a few updates.",
    "lab.measured": "Measured on {n} seeds for this preset:",
    "lab.verdict.separates": "Separates: on every seed the RNN fails (near chance) while GRU and LSTM succeed "
    "(threshold {thr}); slowest run {s} s.",
    "lab.verdict.all_solve": "Does not separate: all three cells succeed on every seed; slowest run {s} s.",
    "lab.verdict.mixed": "Does not separate at this size: on some seeds the RNN succeeds or GRU/LSTM fail (see the "
    "table); slowest run {s} s.",
    "lab.start": "Start",
    "lab.stop": "Stop",
    "lab.busy": "A training job is already running (maybe started by another user). Wait until it ends.",
    "lab.idle": "No job has run yet.",
    "lab.live": "{task}, lag {lag}: training and held-out",
    "lab.solved": "{cell}: succeeded after {n} updates",
    "lab.not_solved": "{cell}: no success in {n} updates",
    "lab.stop_reason.user": "Stopped with the Stop button.",
    "lab.stop_reason.time_limit": "Stopped: a training job runs at most {minutes} minutes.",
    "lab.stop_reason.unwatched": "Stopped: nobody had this page open for {idle} s.",
    "lab.stop_reason.shutdown": "Stopped: the server is shutting down.",
    "lab.state.running": "Training, lag {lag}, {s} s",
    "lab.state.done": "Done: lag {lag}, {s} s",
    "lab.state.stopped": "Stopped: lag {lag}, {s} s",
    "lab.state.error": "Failed: lag {lag}, {s} s",
    "plot.success_rate": "share of successful seeds",
    "plot.success_panel": "success rate (bars: 95% Wilson interval)",
    "plot.final_panel": "final test score of every seed",
    "plot.seq_len": "sequence length",
    "plot.gate_bias": "forget / update gate bias b at initialisation",
    "plot.updates": "updates",
    "plot.grad_ratio": "‖∂L/∂h₀‖ / ‖∂L/∂h_T‖ (float64)",
    "plot.sigma_pow": "σ(b)^lag (kept of h₀ by the gate at init)",
    "plot.measured_ratio": "measured gradient ratio at init",
    "plot.seed": "seed",
    "plot.mean": "mean",
    "plot.train": "train",
    "plot.held_out": "held-out",
    "plot.mse": "MSE",
    "plot.baseline_mse": "predict the mean (MSE 1/6)",
    "plot.threshold": "success threshold",
    "plot.solved": "solved",
    "plot.log_scale": "σ(b)^lag, ratio (log)",
    "explain.title": "How to read this",
    "explain.intro": "Equations follow PyTorch's gate order (docs of nn.LSTM, nn.GRU, nn.RNN). σ is the sigmoid "
    "(values 0…1), ⊙ the element-wise product. Quantity names on the charts match the labels on the right.",
    "explain.lstm": "The forget gate f decides how much of the old memory c stays; the input gate i how much of the "
    "new candidate g is written; the output gate o what of the memory is shown in h.",
    "explain.gru": "A GRU has one memory h. In PyTorch's convention z is the share of the **old** state: z ≈ 1 "
    "means 'keep', z ≈ 0 'replace with the new n'. The reset gate r decides how much past goes into n.",
    "explain.grads_title": "Why gradients vanish",
    "explain.grads": "Vanishing is a product of step Jacobians: in an RNN every step back multiplies the gradient by "
    "diag(1−h²)·W_hh. When σ_max(W_hh) < 1 its norm must fall exponentially (the Pascanu et al., 2013 bound); when "
    "σ_max ≥ 1 the bound forbids nothing, and the gradient can still vanish through how the Jacobians combine (the "
    "trained RNNs here are such: σ_max ≈ 2.8–3.0). An LSTM has a direct path through the cell c whose factor is Π f_t "
    "(the forget gates); at initialisation it is ≈ σ(b_f)^lag, so the bias b_f decides whether the gradient "
    "crosses a long gap.",
    "explain.read_title": "How to read the charts",
    "explain.read_gates": "**Gates.** Rows are units, columns tokens. Yellow is an open gate (≈1), dark blue a "
    "closed one (≈0). A vertical stripe is a word many units react to; a horizontal one a unit holding a value for "
    "long (memory). Out-of-vocabulary tokens are marked ⁇.",
    "explain.read_grads": "**Gradients.** The y axis is logarithmic: a straight line is exponential decay. By default "
    "every curve is divided by its value at the last token and starts at 1, so a model's confidence does not shift "
    "it. The reach chart ‖∂h_T/∂s_t‖₂ does not depend on the loss at all. A value below 1e-300 is drawn as an x at "
    "the bottom, never dropped. The text coloured by ‖∂L/∂x_t‖ uses one scale for every model.",
    "explain.read_training": "**Training.** A gap between solid (train) and dashed (val) lines is overfitting. The "
    "gradient-profile heatmap shows how decay with distance changes over epochs.",
    "explain.read_lab": "**Lab.** When accuracy falls to chance as the lag grows, the model no longer carries the "
    "cue to the end of the sequence.",
    "explain.example_title": "Classroom example: a cue and 100 distractors",
    "explain.example": "The “Classroom scenario” button on the Gradients page feeds the three cue models the "
    "sequence “france”, 100 distractors and the query “?”. To answer, a model must carry the cue across the whole "
    "gap. The RNN's normalised gradient at the cue is below 1e-3 of the LSTM's (a test checks this), usually by "
    "many orders of magnitude. For cue models the neutral-token slider inserts its tokens after the cue, so it "
    "lengthens exactly the gap to the query; for text you pick where they go.",
}

STRINGS: dict[str, dict[str, str]] = {"ru": RU, "en": EN}


def t(key: str, lang: str | None = None, **fmt: Any) -> str:
    """The UI string ``key`` in ``lang`` (default: the session's language), formatted with ``fmt``.

    Example:
        >>> t("nav.gates", lang="en")
        'Gates'
    """
    if lang is None:
        try:
            lang = st.session_state.get(LANG, DEFAULT_LANGUAGE)
        except Exception:  # outside a Streamlit run
            lang = DEFAULT_LANGUAGE
    text = STRINGS.get(lang, RU).get(key) or EN.get(key) or key
    return text.format(**fmt) if fmt else text
