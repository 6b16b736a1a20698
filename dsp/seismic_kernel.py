"""The geophone chain as one fused streaming kernel.

Per input sample: validity check -> polyphase resampling to the internal rate. Per internal
sample: high-pass (DC removal) -> band filter bank -> energy accumulated per frame, and the
broadband sample kept in a history ring. Per frame (20 ms by default): recursive STA/LTA per
band on the frame energy, with a noise floor (the LTA) that is frozen while an event is open
and adapts ten times slower when the ratio is already high (a slowly approaching vehicle must
not teach the floor its own level); hysteresis trigger and hold time segment events.

An open event is cut into pieces as it goes, at valleys of its loudness (two sources one after
the other, glued by a third or by wind): each piece leaves the kernel as soon as its valley is
confirmed, at most ``P_PLATEAU`` frames after it (plus half the loudness smoothing), whatever
follows. That bounds the detector's latency however long sources keep the event open.

Everything the kernel remembers is in the arrays it is given (``SeismicState``), so blocks of
any size give identical frames, events and flags.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from dsp.filters import bank_block, biquad_run, prime_sections, resample_block
from dsp.jit import njit
from dsp.validity import VP_CLIP_DEV, validate_block

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Parameters (prm), fixed for a chain.
P_CSTA = 0  # STA coefficient per frame
P_CLTA = 1  # LTA coefficient per frame
P_ON = 2
P_OFF = 3
P_HOLD = 4  # frames
P_MAXF = 5  # frames
P_WARM = 6  # frames
P_CEIL = 7
P_FRAME = 8  # internal samples per frame
P_CLIP_FACTOR = 9  # clip level = factor x broadband noise RMS
P_CDOWN = 10  # noise floor coefficient per frame when falling (and when re-learning)
P_DROP = 11  # a band stays active while its STA is within this factor of its event peak
P_RELEARN = 12  # frames of quick floor re-learning after an event
P_IMP_ON = 13  # frame peak^2 / floor that opens an event (an impact)
P_IMP_OFF = 14  # ... that keeps it open
P_NSTA = 15  # frames in the (boxcar) STA
P_LOG_CEIL = 16  # log(P_CEIL)
P_SMOOTH = 17  # frames in the loudness boxcar (the valley search looks this far / 2 ahead)
P_SPLIT_DEPTH = 18  # dB: a valley this deep below the loudest point before it cuts ...
P_SPLIT_LEVEL = 19  # dB: ... plus however far it stands more than this above S_REF
P_SPLIT_MIN = 20  # frames: no piece shorter than this is cut off at its start
P_PLATEAU = 21  # frames: a cut is decided at most this long after its valley
P_LONG = 22  # frames: a piece this long is cut at a valley of only ...
P_LONG_DEPTH = 23  # dB
P_CREEP = 24  # dB per frame S_REF may rise
N_PARAMS = 25

# Scalar state (st).
S_FRAME = 0  # index of the frame being accumulated (since the chain started)
S_FCOUNT = 1  # internal samples in it so far
S_BB_ACC = 2
S_PEAK_ACC = 3
S_BAD_ACC = 4  # 1 if the frame holds a sample taken while settling
S_IN_EVENT = 5
S_EV_START = 6
S_EV_LAST = 7  # last frame at or above trigger_off
S_WARM = 8  # usable frames seen (noise floor formed after P_WARM)
S_NOISE = 9  # broadband noise energy (floor, same rules as the band LTAs)
S_BB_POS = 10  # write position in the history ring
S_PRIMED = 11  # filters primed with the first good value
S_BB_STA = 12  # broadband STA (for its floor)
S_RELEARN = 13  # frames of re-learning left
S_LOUD = 14  # sum of the loudness ratio over the last P_SMOOTH frames
S_P_START = 15  # first frame of the open piece of the open event
S_P_KIND = 16  # how that piece began (K_TRIGGER, K_RISE, K_PLATEAU)
S_P_MAX = 17  # loudest point (dB) of the piece since it began, or since its last valley
S_V_POS = 18  # centre frame of the valley candidate (the quietest point since S_P_MAX), or -1
S_V_DB = 19  # its loudness (dB)
S_R_MAX = 20  # loudest point since the valley candidate (dB)
S_BG = 21  # loudness ratio outside events (running mean, frozen in events)
S_REF = 22  # running loudness floor of the open event (dB): follows it down, creeps up
S_V_REF = 23  # ... where the valley candidate was found
S_P_ABOVE = 24  # the open piece's valley, dB above that floor (E_ABOVE)
S_P_FALL = 25  # ... and dB below the loudest point before it (E_FALL)
S_NOISE_LEAST = 26  # log of the lowest S_NOISE may fall to (as B_LEAST)
N_STATE = 27

# Per-band state (bst rows).
B_ACC = 0
B_STA = 1  # sum of the last n_sta frame energies
B_LTA = 2  # noise floor (mean square), kept as its natural log
B_PEAK = 3  # peak STA in the open event
B_TOP = 4  # largest squared sample of the frame so far
B_FLOOR = 5  # exp(B_LTA), kept to spare an exp per frame
B_LEAST = 6  # the lowest B_LTA may fall to: what the converter can resolve (-inf: unknown)
N_BAND_STATE = 7

FLOOR_EVERY = 5
"""After warm-up the noise floors are updated every this many frames (0.1 s)."""

# Frame record (frame_ring columns), nb = number of bands:
#   [0, nb)       band energy (mean square over the frame)
#   [nb, 2nb)     band noise floor (LTA) at that frame
#   2nb + F_BB    broadband energy, + F_PEAK peak |broadband|, + F_SNR max band STA/LTA,
#   2nb + F_OK    1 when the frame was usable, + F_RATIO mean over bands of energy / floor
F_BB = 0
F_PEAK = 1
F_SNR = 2
F_OK = 3
F_RATIO = 4
N_FRAME_EXTRA = 5

RATIO_MAX = 1e12
"""Loudness ratios are clipped here so that the running sum stays finite (a spike over a
floor still forming)."""

# Piece record (events rows): start frame, end frame (exclusive), forced (the event was cut
# at max_event_s there), how the piece began.
E_START = 0
E_END = 1
E_FORCED = 2
E_KIND = 3
E_ABOVE = 4  # the valley it began at: dB above the event's running loudness floor ...
E_FALL = 5  # ... and dB below the loudest point of the piece before (0 after a trigger)
N_EVENT_COLS = 6

K_TRIGGER = 0.0  # the event's first piece: it began at the trigger
K_RISE = 1.0  # after a valley out of which the loudness rose again (a new source)
K_PLATEAU = 2.0  # after a valley where the loudness stayed low for P_PLATEAU frames


@njit(cache=True)
def seismic_block(
    x: FloatArray,
    bad_kind: int,
    hp: FloatArray,
    down: int,
    rs_ring: FloatArray,
    rs_cnt: IntArray,
    sos: FloatArray,
    layout: IntArray,
    zi: FloatArray,
    prm: FloatArray,
    vp: FloatArray,
    st: FloatArray,
    bst: FloatArray,
    vs: FloatArray,
    frame_ring: FloatArray,
    bb_ring: FloatArray,
    events: FloatArray,
    flags: IntArray,
) -> tuple[int, int]:
    """Run one block of raw samples ``x`` through the chain; returns (events, flags) written.

    Stage by stage over the block (each filter keeps its state in registers while it runs);
    the results do not depend on where blocks are cut. ``events`` needs two rows per frame
    the block can complete plus two; ``flags`` one row per input sample plus eight.
    """
    n = x.shape[0]
    nb = layout.shape[0] - 1
    frame_len = int(prm[P_FRAME])
    # -- input checks, then resampling to the internal rate -----------------------------------
    if st[S_WARM] >= prm[P_WARM]:
        vp[VP_CLIP_DEV] = prm[P_CLIP_FACTOR] * math.sqrt(st[S_NOISE])
    if st[S_PRIMED] == 0.0:
        # With the stream's first finite sample, wherever the blocks were cut.
        for i in range(n):
            if math.isfinite(x[i]):
                _prime(x[i], rs_ring, sos, layout, zi)
                st[S_PRIMED] = 1.0
                break
    clean = np.empty(n)
    settling_in = np.empty(n, dtype=np.bool_)
    n_fl = validate_block(x, bad_kind, vp, vs, clean, settling_in, flags)
    up = hp.shape[0]
    cap = (n * up) // down + 2
    bb = np.empty(cap)
    settling = np.empty(cap, dtype=np.bool_)
    m = resample_block(hp, down, clean, rs_ring, rs_cnt, bb, settling_in, settling)
    bb = bb[:m]
    # -- high-pass: the broadband signal, into the history ring --------------------------------
    for s in range(layout[0, 0], layout[0, 0] + layout[0, 1]):
        biquad_run(sos, zi, s, bb, bb)
    n_bb = bb_ring.shape[0]
    pos = int(st[S_BB_POS])
    for j in range(m):
        bb_ring[pos] = bb[j]
        pos += 1
        if pos == n_bb:
            pos = 0
    st[S_BB_POS] = pos
    # -- frame energies: broadband, then the band filter bank -------------------------------
    fc0 = int(st[S_FCOUNT])
    n_done = (fc0 + m) // frame_len
    # Per completed frame: band energies, band peak squares, broadband energy, peak, settling.
    fe = np.empty((n_done, 2 * nb + 3))
    xb = 2 * nb  # first column after the band values
    acc = st[S_BB_ACC]
    peak = st[S_PEAK_ACC]
    bad = st[S_BAD_ACC]
    c = fc0
    f = 0
    for j in range(m):
        v = bb[j]
        acc += v * v
        peak = max(peak, abs(v))
        if settling[j]:
            bad = 1.0
        c += 1
        if c == frame_len:
            fe[f, xb] = acc
            fe[f, xb + 1] = peak
            fe[f, xb + 2] = bad
            acc = 0.0
            peak = 0.0
            bad = 0.0
            c = 0
            f += 1
    st[S_BB_ACC] = acc
    st[S_PEAK_ACC] = peak
    st[S_BAD_ACC] = bad
    st[S_FCOUNT] = c
    y = np.empty((nb, m))
    for b in range(nb):
        y[b, :] = bb
    bank_block(sos, layout[1:], zi, y)
    for b in range(nb):
        acc = bst[b, B_ACC]
        top = bst[b, B_TOP]
        c = fc0
        f = 0
        for j in range(m):
            sq = y[b, j] * y[b, j]
            acc += sq
            top = max(top, sq)
            c += 1
            if c == frame_len:
                fe[f, b] = acc
                fe[f, nb + b] = top
                acc = 0.0
                top = 0.0
                c = 0
                f += 1
        bst[b, B_ACC] = acc
        bst[b, B_TOP] = top
    # -- per frame: STA/LTA, noise floor, trigger ----------------------------------------------
    n_ev = 0
    for f in range(n_done):
        n_ev = _close_frame(prm, st, bst, fe, f, frame_len, frame_ring, nb, events, n_ev)
    return n_ev, n_fl


@njit(cache=True, inline="always")
def _prime(
    v: float, rs_ring: FloatArray, sos: FloatArray, layout: IntArray, zi: FloatArray
) -> None:
    # Start as if the first value had always been there: no step into the filters, whose
    # ringing would otherwise inflate the noise floor being learnt.
    rs_ring[:] = v
    prime_sections(sos, zi, layout[0, 0], layout[0, 1], v)


@njit(cache=True, inline="always")
def _update_floor(
    log_floor: float, energy: float, sta: float, warm: float, prm: FloatArray, step: float
) -> float:
    """The noise floor, in log units: a running mean of the frame energy while it forms,
    then it follows the log STA down quickly (a loud start must not deafen the detector for
    minutes) and up slowly, ten times slower still when the STA is already well above it.
    Averaging logs keeps gusts and single loud frames from dragging it up."""
    if warm < prm[P_WARM]:
        c = max(1.0 / (warm + 1.0), prm[P_CLTA])
        lin = math.exp(log_floor) if warm > 0.0 else 0.0
        return math.log(max(lin + c * (energy - lin), 1e-300))
    target = math.log(max(sta, 1e-300))
    if target < log_floor:
        falling: float = log_floor + step * prm[P_CDOWN] * (target - log_floor)
        return falling
    c = step * prm[P_CLTA]
    if target >= log_floor + prm[P_LOG_CEIL]:
        c *= 0.1
    rising: float = log_floor + c * (target - log_floor)
    return rising


@njit(cache=True, inline="always")
def _close_frame(
    prm: FloatArray,
    st: FloatArray,
    bst: FloatArray,
    fe: FloatArray,
    f: int,
    frame_len: int,
    frame_ring: FloatArray,
    nb: int,
    events: FloatArray,
    n_ev: int,
) -> int:
    """One frame: STA and noise floor per band, two characteristic functions, trigger.

    - continuous: STA / floor (vehicles, anything that lasts);
    - impulsive: the frame's largest squared sample / floor (a footstep is an impact that
      rings for a tenth of a second: averaging would bury it).

    A band keeps an event open while either is above its ``off`` level, the STA staying
    within ``drop`` of the band's peak STA in this event (so a loud vehicle's long tail does
    not glue it to the next event). After an event the floor re-learns quickly for
    ``relearn`` frames: what remains is background.
    """
    k = st[S_FRAME]
    row = int(k) % frame_ring.shape[0]
    xb = 2 * nb
    ok = fe[f, xb + 2] == 0.0
    in_event = st[S_IN_EVENT] != 0.0
    warm = st[S_WARM]
    # The floor moves slowly: after warm-up it is updated every FLOOR_EVERY frames only
    # (exp and log are the dearest part of a frame); k is absolute, so blocks do not matter.
    adapt = ok and not in_event and (warm < prm[P_WARM] or int(k) % FLOOR_EVERY == 0)
    step = 1.0 if warm < prm[P_WARM] else float(FLOOR_EVERY)
    relearn = adapt and st[S_RELEARN] > 0.0
    c_sta = prm[P_CSTA]
    n_sta = prm[P_NSTA]
    old_row = int(k - n_sta) % frame_ring.shape[0]
    snr_max = 0.0
    imp_max = 0.0
    ratio = 0.0
    active = False
    for b in range(nb):
        e = fe[f, b] / frame_len
        # Boxcar STA over the last n_sta frames, from the history ring (which still holds
        # the frame that drops out): it ends n_sta frames after the signal does, where an
        # exponential average would trail a loud impact for seconds.
        total = bst[b, B_STA] + e
        if k >= n_sta:
            total -= frame_ring[old_row, b]
        bst[b, B_STA] = total
        sta = max(total, 0.0) / n_sta
        if adapt:
            log_floor = bst[b, B_LTA]
            if relearn:
                log_floor += step * prm[P_CDOWN] * (math.log(max(sta, 1e-300)) - log_floor)
            else:
                log_floor = _update_floor(log_floor, e, sta, warm, prm, step)
            # Input that stands on one value has no energy at all: the floor would sink
            # without end, and the first change of one count would be an event for ever.
            log_floor = max(log_floor, bst[b, B_LEAST])
            bst[b, B_LTA] = log_floor
            bst[b, B_FLOOR] = math.exp(log_floor)
        floor = bst[b, B_FLOOR]
        snr = sta / floor if floor > 0.0 else 0.0
        imp = fe[f, nb + b] / floor if floor > 0.0 else 0.0
        if floor > 0.0:
            ratio += min(e / floor, RATIO_MAX)
        snr_max = max(snr_max, snr)
        imp_max = max(imp_max, imp)
        if in_event:
            bst[b, B_PEAK] = max(bst[b, B_PEAK], sta)
            if imp >= prm[P_IMP_OFF] or (snr >= prm[P_OFF] and sta >= prm[P_DROP] * bst[b, B_PEAK]):
                active = True
        frame_ring[row, b] = e
        frame_ring[row, nb + b] = floor
    if ok and not in_event and st[S_RELEARN] > 0.0:
        st[S_RELEARN] -= 1.0
    e_bb = fe[f, xb] / frame_len
    st[S_BB_STA] += c_sta * (e_bb - st[S_BB_STA])
    if adapt:
        # Broadband floor (only sets the clip-detection level): same rules.
        log_noise = math.log(max(st[S_NOISE], 1e-300))
        log_noise = _update_floor(log_noise, e_bb, st[S_BB_STA], warm, prm, step)
        st[S_NOISE] = math.exp(max(log_noise, st[S_NOISE_LEAST]))
    frame_ring[row, xb + F_BB] = e_bb
    frame_ring[row, xb + F_PEAK] = fe[f, xb + 1]
    # One strength on the continuous scale: an impact at impulse_on counts as trigger_on.
    strength = max(snr_max, imp_max / prm[P_IMP_ON] * prm[P_ON])
    frame_ring[row, xb + F_SNR] = strength
    frame_ring[row, xb + F_OK] = 1.0 if ok else 0.0
    # Loudness for the valley search: boxcar sum of the ratio over the last P_SMOOTH frames
    # (the ring still holds the frame that drops out, as for the STA).
    ratio /= nb
    n_smooth = prm[P_SMOOTH]
    loud = st[S_LOUD] + ratio
    if k >= n_smooth:
        loud -= frame_ring[int(k - n_smooth) % frame_ring.shape[0], xb + F_RATIO]
    st[S_LOUD] = loud
    frame_ring[row, xb + F_RATIO] = ratio
    if ok and not in_event:
        # Loudness between events: gusty wind keeps it well above the floor (a log mean).
        # An event's running loudness floor starts from it.
        st[S_BG] += max(1.0 / (warm + 1.0), prm[P_CLTA]) * (ratio - st[S_BG])
    if ok and warm < prm[P_WARM]:
        st[S_WARM] = warm + 1.0
    armed = ok and warm >= prm[P_WARM]
    if not in_event:
        if armed and (snr_max >= prm[P_ON] or imp_max >= prm[P_IMP_ON]):
            st[S_IN_EVENT] = 1.0
            st[S_EV_START] = k
            st[S_EV_LAST] = k
            for b in range(nb):
                bst[b, B_PEAK] = max(bst[b, B_STA], 0.0) / n_sta
            st[S_P_START] = k
            st[S_P_KIND] = K_TRIGGER
            st[S_P_ABOVE] = 0.0
            st[S_P_FALL] = 0.0
            st[S_P_MAX] = -math.inf
            st[S_V_POS] = -1.0
            st[S_REF] = 10.0 * math.log10(max(st[S_BG], 1e-12))
    else:
        if ok and active:
            st[S_EV_LAST] = k
        n_ev = _valley(prm, st, k - float(int(n_smooth) // 2), loud / n_smooth, events, n_ev)
        forced = k + 1.0 - st[S_EV_START] >= prm[P_MAXF]
        if forced or k - st[S_EV_LAST] > prm[P_HOLD]:
            end = (k + 1.0) if forced else (st[S_EV_LAST] + 1.0)
            if end > st[S_P_START]:  # empty when the last cut came after the last activity
                events[n_ev, E_START] = st[S_P_START]
                events[n_ev, E_END] = end
                events[n_ev, E_FORCED] = 1.0 if forced else 0.0
                events[n_ev, E_KIND] = st[S_P_KIND]
                events[n_ev, E_ABOVE] = st[S_P_ABOVE]
                events[n_ev, E_FALL] = st[S_P_FALL]
                n_ev += 1
            st[S_IN_EVENT] = 0.0
            st[S_RELEARN] = prm[P_RELEARN]
    st[S_FRAME] = k + 1.0
    return n_ev


@njit(cache=True, inline="always")
def _valley(
    prm: FloatArray, st: FloatArray, c: float, mean: float, events: FloatArray, n_ev: int
) -> int:
    """Online valley search in the open event, one loudness value (centre frame ``c``) at a
    time; writes the piece before a confirmed valley to ``events``.

    The valley candidate is the quietest point after the piece's loudest one (at least
    ``P_SPLIT_MIN`` frames into the piece). It is a cut when it lies far enough below that
    loudest point: ``P_SPLIT_DEPTH`` if it comes back to the loudness the event keeps falling
    back to (``S_REF``: the loudness before the event, following every low since, rising
    ``P_CREEP`` per frame at most, so that wind picking up meanwhile counts as background),
    deeper by however far it stands more than ``P_SPLIT_LEVEL`` above that (a dip in a loud
    vehicle's pass is not a gap between two sources), and only ``P_LONG_DEPTH`` once the
    piece is ``P_LONG`` frames long (sources back to back in gusty wind), if the valley comes
    within ``P_SPLIT_DEPTH`` of that floor. Then, within ``P_PLATEAU`` frames, the loudness
    either rose again by as much (a new source: ``K_RISE``) or neither went lower nor came
    back to within half that depth of the loudest point (the source has gone, whatever comes
    next: ``K_PLATEAU``). Older candidates are never cut: every cut is decided by then.
    """
    start = st[S_P_START]
    if c < start:
        return n_ev
    level = 10.0 * math.log10(max(mean, 1e-12))
    # The loudness the event keeps falling back to (wind that picked up meanwhile, say):
    # what a valley between two sources is judged against.
    st[S_REF] = min(level, st[S_REF] + prm[P_CREEP])
    vpos = st[S_V_POS]
    if vpos >= 0.0:
        vdb = st[S_V_DB]
        top = max(st[S_R_MAX], level)
        st[S_R_MAX] = top
        age = c - vpos
        above = vdb - st[S_V_REF]
        if c - start >= prm[P_LONG] and above <= prm[P_SPLIT_DEPTH]:
            need = prm[P_LONG_DEPTH]
        else:
            need = prm[P_SPLIT_DEPTH] + max(above - prm[P_SPLIT_LEVEL], 0.0)
        if age <= prm[P_PLATEAU] and st[S_P_MAX] - vdb >= need:
            rise = top - vdb >= need
            if rise or (age == prm[P_PLATEAU] and top <= st[S_P_MAX] - 0.5 * need):
                events[n_ev, E_START] = start
                events[n_ev, E_END] = vpos
                events[n_ev, E_FORCED] = 0.0
                events[n_ev, E_KIND] = st[S_P_KIND]
                events[n_ev, E_ABOVE] = st[S_P_ABOVE]
                events[n_ev, E_FALL] = st[S_P_FALL]
                st[S_P_START] = vpos
                st[S_P_KIND] = K_RISE if rise else K_PLATEAU
                st[S_P_ABOVE] = above
                st[S_P_FALL] = st[S_P_MAX] - vdb
                st[S_P_MAX] = top
                st[S_V_POS] = -1.0
                return n_ev + 1
    if level > st[S_P_MAX]:
        st[S_P_MAX] = level
        st[S_V_POS] = -1.0
    elif c >= start + prm[P_SPLIT_MIN] and (vpos < 0.0 or level < st[S_V_DB]):
        st[S_V_POS] = c
        st[S_V_DB] = level
        st[S_V_REF] = st[S_REF]
        st[S_R_MAX] = level
    return n_ev
