"""The parts every agent is built from: specs, actors, adders, replay, networks, loops."""
