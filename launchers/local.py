"""The `local` runner: one process, acting and learning interleaved by the rate limiter."""

from __future__ import annotations

from typing import Any, Callable, Mapping

import dm_env

from components.core import Actor, Learner
from components.counting import Counter
from components.environment_loop import EnvironmentLoop
from components.rate_limiters import RateLimiter
from components.specs import make_environment_spec
from launchers.evaluator import Evaluator
from launchers.experiment import ExperimentConfig
from launchers.nodes import acting_diagnostics, make_actor, make_environment, make_learner
from launchers.run import Nodes, Run
from launchers.run_state import components_state, restore_components

# Actor steps between the driver's looks at the checkpoint clock.
CHECK_STEPS = 2_000


class LearningActor(Actor):
    """Wraps an actor so that its `update` also runs every learner step the rate limiter allows.

    With `learn_every` > 1 the learner runs only on every `learn_every`-th
    update, catching up in one burst (like SB3's train_freq): the same number
    of learner steps, with staler data but warmer caches, which is faster on a CPU.
    """

    def __init__(self, actor: Actor, learner: Learner, rate_limiter: RateLimiter, batch_size: int,
                 learn_every: int = 1) -> None:
        self._actor = actor
        self._learner = learner
        self._limiter = rate_limiter
        self._batch_size = batch_size
        self._learn_every = learn_every
        self._updates = 0

    def select_action(self, observation):
        return self._actor.select_action(observation)

    def observe_first(self, timestep: dm_env.TimeStep) -> None:
        self._actor.observe_first(timestep)

    def observe(self, action, next_timestep: dm_env.TimeStep) -> None:
        self._actor.observe(action, next_timestep)

    def update(self, wait: bool = False) -> None:
        self._updates += 1
        stepped = False
        while self._updates % self._learn_every == 0 and self._limiter.can_sample(self._batch_size):
            self._learner.step()
            stepped = True
        if stepped or wait:
            self._actor.update(wait)


class LocalNodes(Nodes):
    """The actor, replay, learner and evaluator in this process; acting pauses while evaluating."""

    def __init__(self, run: Run) -> None:
        experiment, loggers = run.experiment, run.loggers
        self._experiment = experiment
        self._counter = Counter()
        self._environment = make_environment(experiment, experiment.seed)
        try:
            spec = make_environment_spec(self._environment)
            builder = experiment.builder
            self._replay = builder.make_replay(spec, experiment.seed, num_lanes=experiment.num_envs)
            print(f"[replay] {self._replay.describe()}", flush=True)
            self._learner = make_learner(experiment, spec, self._replay, run.device, self._counter,
                                         loggers("learner"))
            self._actor, self._policy = make_actor(experiment, spec, builder.make_adder(self._replay), self._learner,
                                                   experiment.seed, self._counter)
            learning = LearningActor(self._actor, self._learner, self._replay.rate_limiter,
                                     builder.learner_batch_size(experiment.num_envs), experiment.learn_every)
            self._loop = EnvironmentLoop(self._environment, learning, Counter(self._counter, "actor"),
                                         loggers("train"))
            self._evaluator = Evaluator(experiment, spec, self._learner, self._counter, loggers("eval"),
                                        lambda: acting_diagnostics(self._replay, self._policy))
        except BaseException:
            self._environment.close()  # Worker processes must not outlive a failed start.
            raise

    def counts(self) -> dict[str, float]:
        return self._counter.get_counts()

    def advance(self, target_steps: int) -> None:
        self._loop.run(num_steps=min(target_steps - self.actor_steps(), CHECK_STEPS))

    def evaluate(self, train_seconds: float) -> dict[str, Any]:
        return self._evaluator.evaluate(train_seconds)

    def get_state(self, with_replay: bool) -> dict[str, Any]:
        # One thread: nothing inserts before the run driver has written the checkpoint, so the replay's
        # live arrays go to the checkpointer uncopied.
        return components_state(self._learner, self._counter, [self._policy], self._replay, with_replay,
                                copy_replay=False)

    def set_state(self, state: Mapping[str, Any] | None) -> None:
        if state is not None:
            restore_components(state, self._learner, self._counter, [self._policy], self._replay)
        self._actor.update(wait=True)  # Act with the (restored) learner's weights.

    def write_artifacts(self) -> None:
        self._evaluator.write_artifacts()

    def close(self) -> None:
        try:
            self._evaluator.close()
        finally:
            self._environment.close()


def run_local(experiment: ExperimentConfig,
              on_evaluation: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any]:
    """Trains until `num_steps` actor steps, evaluating every `eval_every`; returns the summary."""
    return Run(experiment).drive(LocalNodes, on_evaluation)
