"""The named scenarios: what background each has and which events happen in it.

docs/scenarios.md describes them for people; this module is the source of truth.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from hil.synth.building import Building


@dataclass(frozen=True)
class Faults:
    """Hardware trouble on the seismic channel (and dropouts on every channel)."""

    clip_factor: float | None = None
    """Amplifier saturates at this multiple of the site-noise RMS (gain set too high)."""
    spikes_per_h: float = 0.0
    stuck_per_h: float = 0.0
    flatline_per_h: float = 0.0
    dropouts_per_h: float = 0.0


@dataclass(frozen=True)
class Background:
    site_rms: tuple[float, float] = (3e-8, 1e-7)
    """Seismic site-noise RMS (m/s), drawn log-uniformly per recording."""
    site_variation: float = 0.2
    """Log-amplitude wander of the site noise over minutes."""
    wind_mps: tuple[float, float] = (0.0, 0.0)
    gustiness: float = 0.3
    rain_mm_h: tuple[float, float] = (0.0, 0.0)
    traffic_per_h: float = 0.0
    road_m: tuple[float, float] = (600.0, 1000.0)
    hum_ratio: tuple[float, float] = (0.1, 0.4)
    """Mains hum RMS relative to the site noise."""
    sun_per_h: float = 2.0
    """Clouds passing the sun (PIR clutter)."""
    glimpses_per_h: tuple[float, float] = (2.0, 60.0)
    """Small warm things darting past the PIR's lens (PIR clutter, ``synth_pir.glimpses``),
    per hour, drawn log-uniformly per recording: a quiet corner to a hedge full of birds
    (at a drawn site, ``SITE_GLIMPSES_PER_H``)."""
    mag_drift_nt_per_h: float = 3.0
    faults: Faults = field(default_factory=Faults)
    building: Building | None = None
    """Indoors: the floor rings under the building's activity instead of site noise, with
    machinery, doors, footsteps elsewhere and PIR drafts (``hil.synth.building``)."""


PEOPLE_RANGE = (2.0, 50.0)
VEHICLE_RANGE = (10.0, 300.0)
ANIMAL_RANGE = (2.0, 40.0)

WALKTEST_LADDER = (
    ("walker", 2.0),
    ("walker", 5.0),
    ("walker", 10.0),
    ("walker", 15.0),
    ("walker", 20.0),
    ("runner", 5.0),
    ("runner", 12.0),
    ("car", 10.0),
    ("car", 25.0),
    ("car", 50.0),
    ("car", 100.0),
    ("truck", 40.0),
)
"""What a technician's walk test covers: people inside and just beyond the footstep bar
range (15 m), vehicles inside the vehicle bar range (100 m)."""

PATROL_MIX = {
    "walker": 0.30,
    "runner": 0.08,
    "group": 0.12,
    "car": 0.16,
    "truck": 0.07,
    "tracked": 0.06,
    "quadruped": 0.21,
}


@dataclass(frozen=True)
class ScenarioSpec:
    description: str
    background: Background
    mix: dict[str, float] = field(default_factory=dict)
    """Relative frequency of each event kind (empty: noise only)."""
    mean_gap_s: float = 6.0
    """Mean quiet time between one event's detectable span and the next (plus
    ``min_gap_s``)."""
    min_gap_s: float = 2.0
    people_range: tuple[float, float] = PEOPLE_RANGE
    vehicle_range: tuple[float, float] = VEHICLE_RANGE
    animal_range: tuple[float, float] = ANIMAL_RANGE
    group_size: tuple[int, int] = (2, 6)
    ferrous_am2: float = 0.05
    """Median magnetic moment people carry."""
    overlap_prob: float = 0.0
    """Chance that an event starts while the previous one is still detectable."""
    sweep: bool = False
    """Range sweep: events at a fixed ladder of ranges instead of random ones."""
    ladder: tuple[tuple[str, float], ...] = ()
    """The sweep's (kind, range) steps, played in shuffled rounds (empty: walkers at
    ``SWEEP_PEOPLE_M``, cars and tracked vehicles at ``SWEEP_VEHICLE_M``)."""
    one_at_a_time: bool = False
    """Each source leaves the scene before the next one sets off (a walk test): the gap is
    kept between the spans the sources are moving in the scene, not between the spans in
    which they are detectable."""
    lead_in_s: float = 0.0
    """Background only before the first event: time for a live detector to learn the noise
    floor (it does not trigger during its warm-up)."""
    studied: bool = True
    """Part of training and evaluation (the demo's show is not)."""
    setting: str = "field"
    """Where the unit stands: ``field``, ``road`` (a road bed), ``street`` (a town street's
    kerb) or ``building`` (a floor): the kind of ground drawn for it
    (``hil.synth.site.SETTINGS``)."""
    vehicle_mode: str = "engine"
    """``engine``: vehicles as heard from tens to hundreds of metres (engine and tyre lines,
    low-frequency rumble); ``road``: the near field of a road a few metres away (tyre/road
    noise and axle knocks, ``hil.synth.road``)."""
    roadside_m: tuple[float, float] | None = None
    """A road passes this far from the unit (log-uniform per recording): vehicles drive on
    it (two lanes), people walk along its shoulders, and the PIR looks across it."""
    road_speed_mps: tuple[float, float] | None = None
    """Speeds on that road (None: each vehicle model's own range, open-road speeds)."""
    road_roughness: tuple[float, float] = (1.0, 1.0)
    """How much harder than a country road's its irregularities knock (manholes, patches,
    joints, speed bumps), log-uniform per pass."""
    walk_half_m: tuple[float, float] | None = None
    """Half-length of people's straight walks (None: 10-20 m walking, 20-40 m running)."""
    group_style: str = "file"
    """``file``: a group walks in file at one pace; ``room``: each person on their own path
    in a room, within seconds of one another."""
    pacing: float = 0.0
    """Share of walkers who walk at their own pace: stop, turn back, wander, shuffle or limp
    (``hil.synth.people.PACES``); the others cross in a steady line."""
    slab_share: float = 0.0
    """Share of recordings whose floor is a stiff slab (``hil.synth.site.floor_ground``)."""
    animal_species: str | None = None
    """Only this species (``hil.synth.people.SPECIES``); None: any."""

    @property
    def noise_only(self) -> bool:
        return not self.mix and not self.sweep


INDOOR = ScenarioSpec(
    "A geophone on a building floor and a PIR in the room: one to four people walking "
    "within 0.5-8 m; the floor ringing under the building's activity, HVAC and machinery "
    "lines, doors slamming and objects dropped (background, not events), footsteps "
    "elsewhere in the building (background), PIR drafts; no vehicles.",
    Background(
        site_rms=(3e-7, 3e-6),
        site_variation=0.3,
        hum_ratio=(0.05, 0.4),
        sun_per_h=0.0,
        traffic_per_h=30.0,
        road_m=(300.0, 1000.0),
        mag_drift_nt_per_h=5.0,
        building=Building(),
    ),
    {"walker": 0.55, "group": 0.45},
    mean_gap_s=10.0,
    people_range=(0.5, 8.0),
    group_size=(2, 4),
    group_style="room",
    walk_half_m=(1.5, 4.0),
    setting="building",
)
"""People walking about rooms of a busy building (``indoor``)."""

SPECS: dict[str, ScenarioSpec] = {
    "patrol": ScenarioSpec(
        "Mixed activity on a border track over a quiet-to-moderate background: walkers, "
        "runners, small groups, cars, trucks, tracked vehicles and animals, about one event "
        "every 30 s; occasional light wind, weak mains hum, a few overlapping events.",
        Background(
            site_rms=(3e-8, 1.2e-7),
            site_variation=0.35,
            wind_mps=(0.0, 4.0),
            hum_ratio=(0.1, 0.5),
            sun_per_h=3.0,
        ),
        PATROL_MIX,
        mean_gap_s=3.0,
        overlap_prob=0.03,
    ),
    "quiet-night": ScenarioSpec(
        "A still night on quiet ground: low site noise, no wind; sparse walkers, groups, "
        "animals and the odd vehicle. People are audible out to ~50 m.",
        Background(
            site_rms=(1.5e-8, 4e-8), hum_ratio=(0.05, 0.2), sun_per_h=0.0, mag_drift_nt_per_h=1.0
        ),
        {
            "walker": 0.35,
            "runner": 0.05,
            "group": 0.2,
            "car": 0.1,
            "truck": 0.05,
            "tracked": 0.05,
            "quadruped": 0.2,
        },
        mean_gap_s=15.0,
    ),
    "windy": ScenarioSpec(
        "Strong gusty wind (7-11 m/s mean): low-frequency rocking, broadband bursts in gusts, "
        "branch knocks, PIR clutter from moving vegetation; the patrol mix of events.",
        Background(site_rms=(5e-8, 1.2e-7), wind_mps=(7.0, 11.0), gustiness=0.45, sun_per_h=6.0),
        PATROL_MIX,
        mean_gap_s=6.0,
    ),
    "rainy": ScenarioSpec(
        "Showers of 2-12 mm/h (thousands of tiny drop impacts per second ringing at "
        "70-140 Hz) with light wind; the patrol mix of events.",
        Background(
            site_rms=(5e-8, 1e-7), wind_mps=(1.0, 4.0), rain_mm_h=(2.0, 12.0), sun_per_h=0.0
        ),
        PATROL_MIX,
        mean_gap_s=6.0,
    ),
    "busy-road": ScenarioSpec(
        "A road 500-900 m away with a vehicle every ~15 s (low-frequency rumble and drifting "
        "harmonic lines below detection range) while vehicles and people pass close by.",
        Background(site_rms=(5e-8, 1.2e-7), traffic_per_h=240.0, road_m=(500.0, 900.0)),
        {
            "walker": 0.25,
            "runner": 0.05,
            "group": 0.05,
            "car": 0.3,
            "truck": 0.15,
            "tracked": 0.05,
            "quadruped": 0.15,
        },
        mean_gap_s=6.0,
    ),
    "border-crossing": ScenarioSpec(
        "Parties of 2-10 people on foot, single walkers and runners within 30 m, some "
        "crossing at the same time, carrying tools (more iron); a few animals and cars.",
        Background(site_rms=(3e-8, 8e-8), wind_mps=(0.0, 3.0)),
        {"group": 0.5, "walker": 0.25, "runner": 0.1, "quadruped": 0.1, "car": 0.05},
        mean_gap_s=6.0,
        people_range=(2.0, 30.0),
        group_size=(2, 10),
        ferrous_am2=0.3,
        overlap_prob=0.1,
    ),
    "animals": ScenarioSpec(
        "Dogs, deer and cattle wandering past (to be reported as 'unknown'), mixed with "
        "walkers and groups: for telling gaits apart.",
        Background(site_rms=(3e-8, 1e-7)),
        {"quadruped": 0.6, "walker": 0.25, "group": 0.15},
        mean_gap_s=6.0,
        animal_range=(2.0, 30.0),
    ),
    "range-sweep": ScenarioSpec(
        "Single walkers at 2, 5, 10, 15, 20, 30, 40, 50 m and cars and tracked vehicles at "
        "10, 25, 50, 100, 150, 200, 250, 300 m, in shuffled rounds over a steady moderate "
        "background: for range fall-off curves.",
        Background(site_rms=(6e-8, 6e-8), site_variation=0.05, hum_ratio=(0.2, 0.2), sun_per_h=0.0),
        mean_gap_s=8.0,
        sweep=True,
    ),
    "demo": ScenarioSpec(
        "A short show for `ugs-gateway demo`: after 15 s of quiet (the detector learns the "
        "noise floor), walkers and runners close by, cars and trucks on the track, the odd "
        "animal, one after another over a quiet background.",
        Background(
            site_rms=(3e-8, 6e-8), site_variation=0.1, sun_per_h=0.0, glimpses_per_h=(0.0, 0.0)
        ),
        {"walker": 0.3, "runner": 0.2, "car": 0.3, "truck": 0.1, "quadruped": 0.1},
        mean_gap_s=1.0,
        lead_in_s=15.0,
        people_range=(3.0, 12.0),
        vehicle_range=(15.0, 60.0),
        animal_range=(3.0, 12.0),
        studied=False,
    ),
    "walktest": ScenarioSpec(
        "An installation walk test: after 20 s of quiet, one person walks past the sensors at "
        "2, 5, 10, 15 and 20 m and runs past at 5 and 12 m, a car drives past at 10, 25, 50 "
        "and 100 m and a truck at 40 m, in shuffled rounds, each pass over before the next "
        "sets off and at least 8 s after the last one has gone; light wind at most.",
        Background(site_rms=(3e-8, 1e-7), wind_mps=(0.0, 3.0), hum_ratio=(0.1, 0.4), sun_per_h=1.0),
        mean_gap_s=4.0,
        min_gap_s=8.0,
        lead_in_s=20.0,
        sweep=True,
        ladder=WALKTEST_LADDER,
        one_at_a_time=True,
        studied=False,
    ),
    "noise-quiet": ScenarioSpec(
        "No events: quiet-to-moderate site noise and a weak hum. False-alarm baseline.",
        Background(site_rms=(3e-8, 1e-7), site_variation=0.35, sun_per_h=3.0),
    ),
    "noise-wind": ScenarioSpec(
        "No events: strong gusty wind (8-14 m/s mean) with branch knocks and PIR clutter "
        "from vegetation and clouds.",
        Background(site_rms=(5e-8, 1e-7), wind_mps=(8.0, 14.0), gustiness=0.5, sun_per_h=8.0),
    ),
    "noise-rain": ScenarioSpec(
        "No events: showers of 3-20 mm/h with light wind.",
        Background(
            site_rms=(5e-8, 1e-7), wind_mps=(1.0, 4.0), rain_mm_h=(3.0, 20.0), sun_per_h=0.0
        ),
    ),
    "noise-traffic": ScenarioSpec(
        "No events: a road 400-800 m away with a vehicle every ~12 s.",
        Background(site_rms=(5e-8, 1e-7), traffic_per_h=300.0, road_m=(400.0, 800.0)),
    ),
    "noise-hum": ScenarioSpec(
        "No events: strong mains pickup (hum 5-20 x the site noise, 50 or 60 Hz and harmonics).",
        Background(site_rms=(3e-8, 8e-8), hum_ratio=(5.0, 20.0)),
    ),
    "noise-faults": ScenarioSpec(
        "No events: failing hardware over a windy background: amplifier gain so high that "
        "gusts clip, electrical spikes, the amplifier stuck at a rail, flat-lined stretches "
        "and dropouts on every sensor.",
        Background(
            site_rms=(5e-8, 1e-7),
            wind_mps=(3.0, 7.0),
            faults=Faults(
                clip_factor=5.0,
                spikes_per_h=30.0,
                stuck_per_h=6.0,
                flatline_per_h=4.0,
                dropouts_per_h=10.0,
            ),
        ),
    ),
    "noise-mixed": ScenarioSpec(
        "No events: wind, rain, distant traffic, mains hum and a few dropouts at once.",
        Background(
            site_rms=(5e-8, 1e-7),
            wind_mps=(4.0, 8.0),
            rain_mm_h=(1.0, 5.0),
            traffic_per_h=120.0,
            hum_ratio=(0.5, 2.0),
            sun_per_h=4.0,
            faults=Faults(dropouts_per_h=3.0),
        ),
    ),
    "roadside": ScenarioSpec(
        "A unit 1-30 m from a gravel or paved road: cars and trucks pass at 8-30 m/s as "
        "short broadband bursts of tyre noise and axle knocks (engine lines weak), people "
        "walk along the road, now and then with a dog; moderately noisy ground, some wind, "
        "a busier road farther off. The PIR looks across the road and the magnetometer sits "
        "by it.",
        Background(
            site_rms=(6e-8, 2.5e-7),
            site_variation=0.35,
            wind_mps=(0.0, 6.0),
            traffic_per_h=60.0,
            road_m=(300.0, 900.0),
            hum_ratio=(0.1, 0.5),
            sun_per_h=3.0,
        ),
        {"car": 0.5, "truck": 0.15, "walker": 0.2, "group": 0.05, "quadruped": 0.1},
        mean_gap_s=8.0,
        overlap_prob=0.05,
        group_size=(2, 4),
        setting="road",
        vehicle_mode="road",
        roadside_m=(1.0, 30.0),
        animal_species="dog",
    ),
    "indoor": INDOOR,
    "home": replace(
        INDOOR,
        description="A floor sensor where people live and work at their own pace: a quiet "
        "house or a building on stiff slabs; one to four people within 0.5-8 m, half of them "
        "pausing, turning back, wandering, shuffling or limping; doors, dropped objects and "
        "machines as indoors; no vehicles. Not in training: a harder floor to test on.",
        background=replace(INDOOR.background, site_rms=(5e-8, 3e-6)),
        pacing=0.5,
        slab_share=0.35,
        studied=False,
    ),
    "street": ScenarioSpec(
        "A unit at the kerb of a town street, 2-12 m from the traffic: cars, vans and the odd "
        "truck at 5-14 m/s on patched asphalt, each pass a burst of under a second to a few "
        "seconds, mostly its axles knocking on manholes and joints, low in frequency "
        "(15-35 Hz) because the street is laid on soft made ground; people on the pavement, "
        "some with dogs; a busy town around it, mains hum.",
        Background(
            site_rms=(1e-7, 4e-7),
            site_variation=0.35,
            wind_mps=(0.0, 4.0),
            traffic_per_h=400.0,
            road_m=(300.0, 800.0),
            hum_ratio=(0.3, 1.0),
            sun_per_h=3.0,
        ),
        {"car": 0.55, "truck": 0.1, "walker": 0.25, "group": 0.05, "quadruped": 0.05},
        mean_gap_s=8.0,
        overlap_prob=0.05,
        group_size=(2, 3),
        setting="street",
        vehicle_mode="road",
        roadside_m=(2.0, 12.0),
        road_speed_mps=(5.0, 14.0),
        road_roughness=(3.0, 12.0),
        animal_species="dog",
    ),
    "noise-roadside": ScenarioSpec(
        "No events: beside a quiet road with no close passes: gusty wind (2-10 m/s), a busy "
        "road 400-900 m away (beyond the wheeled vehicles' 250 m design range: background), "
        "cloud shadows and vegetation on the PIR.",
        Background(
            site_rms=(6e-8, 2.5e-7),
            site_variation=0.35,
            wind_mps=(2.0, 10.0),
            gustiness=0.4,
            traffic_per_h=200.0,
            road_m=(400.0, 900.0),
            sun_per_h=4.0,
        ),
        setting="road",
    ),
    "noise-indoor": ScenarioSpec(
        "No events: empty rooms: the floor ringing under the building's activity, HVAC and "
        "machinery cycling, doors and dropped objects, footsteps in another part of the "
        "building (too far to detect), PIR drafts.",
        # Indoor's building, busier with doors, drops and people elsewhere.
        replace(INDOOR.background, building=Building(impacts_per_h=40.0, far_walkers_per_h=60.0)),
        setting="building",
    ),
}

SWEEP_PEOPLE_M = (2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0)
SWEEP_VEHICLE_M = (10.0, 25.0, 50.0, 100.0, 150.0, 200.0, 250.0, 300.0)

STUDIED = tuple(name for name, spec in SPECS.items() if spec.studied)
"""The scenarios the model is trained and evaluated on, in the order training walks them."""
