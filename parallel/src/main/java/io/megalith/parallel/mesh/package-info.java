/**
 * The device mesh: how the ranks of a job are arranged into data-, tensor-, pipeline- and
 * expert-parallel dimensions ({@link io.megalith.parallel.mesh.DeviceMesh}), the process groups that
 * arrangement implies ({@link io.megalith.parallel.mesh.MeshGroup}, with ids and names that every rank
 * computes identically), and the communicators of one rank over those groups
 * ({@link io.megalith.parallel.mesh.ParallelContext}). See docs/MESH.md for the rank ordering.
 */
package io.megalith.parallel.mesh;
