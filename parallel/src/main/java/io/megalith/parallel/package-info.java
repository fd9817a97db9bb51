/**
 * How ranks are organised and talk: the Netty transport and collectives, the device mesh
 * (DP x TP x PP x EP) and its process groups, pipeline schedules, data-parallel gradient sync,
 * ZeRO-1/2/3 and expert dispatch. Filled by the issues after the single-rank foundation; it
 * depends on trainer-core and never the other way round.
 */
package io.megalith.parallel;
