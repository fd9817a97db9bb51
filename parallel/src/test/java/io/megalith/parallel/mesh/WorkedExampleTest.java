package io.megalith.parallel.mesh;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The example of docs/MESH.md, world 16 = tp 2 x dp 4 x pp 2 with ep 2; keep the two in sync. */
class WorkedExampleTest {
    private final DeviceMesh mesh = DeviceMesh.forWorld(16, 4, 2, 2, 2);

    private List<String> names(GroupKind kind) {
        return mesh.groups(kind).stream().map(MeshGroup::name).toList();
    }

    private List<Integer> ids(GroupKind kind) {
        return mesh.groups(kind).stream().map(MeshGroup::id).toList();
    }

    @Test
    void shape() {
        assertThat(mesh).isEqualTo(new DeviceMesh(4, 2, 2, 2));
        assertThat(mesh.edp()).isEqualTo(2);
        assertThat(mesh.toString()).isEqualTo("mesh dp 4 x tp 2 x pp 2 = 16 ranks, ep 2 x edp 2");
    }

    @Test
    void groupsAreAsDocumented() {
        assertThat(names(GroupKind.TENSOR)).containsExactly(
                "tp[0,1]", "tp[2,3]", "tp[4,5]", "tp[6,7]", "tp[8,9]", "tp[10,11]", "tp[12,13]", "tp[14,15]");
        assertThat(names(GroupKind.DATA)).containsExactly(
                "dp[0,2,4,6]", "dp[1,3,5,7]", "dp[8,10,12,14]", "dp[9,11,13,15]");
        assertThat(names(GroupKind.PIPELINE)).containsExactly(
                "pp[0,8]", "pp[1,9]", "pp[2,10]", "pp[3,11]", "pp[4,12]", "pp[5,13]", "pp[6,14]", "pp[7,15]");
        assertThat(names(GroupKind.EXPERT)).containsExactly(
                "ep[0,2]", "ep[1,3]", "ep[4,6]", "ep[5,7]", "ep[8,10]", "ep[9,11]", "ep[12,14]", "ep[13,15]");
        assertThat(names(GroupKind.EXPERT_DATA)).containsExactly(
                "edp[0,4]", "edp[1,5]", "edp[2,6]", "edp[3,7]", "edp[8,12]", "edp[9,13]", "edp[10,14]", "edp[11,15]");
        assertThat(names(GroupKind.WORLD)).containsExactly("world[0..15]");
    }

    @Test
    void idsAreAsDocumented() {
        assertThat(ids(GroupKind.WORLD)).containsExactly(0);
        assertThat(ids(GroupKind.TENSOR)).containsExactly(16, 17, 18, 19, 20, 21, 22, 23);
        assertThat(ids(GroupKind.DATA)).containsExactly(32, 33, 34, 35);
        assertThat(ids(GroupKind.PIPELINE)).containsExactly(48, 49, 50, 51, 52, 53, 54, 55);
        assertThat(ids(GroupKind.EXPERT)).containsExactly(64, 65, 66, 67, 68, 69, 70, 71);
        assertThat(ids(GroupKind.EXPERT_DATA)).containsExactly(80, 81, 82, 83, 84, 85, 86, 87);
        assertThat(mesh.firstFreeGroupId()).isEqualTo(96);
    }

    @Test
    void rank13AsDocumented() {
        assertThat(mesh.coordinates(13)).isEqualTo(new MeshCoordinates(1, 2, 1, 0, 1));
        assertThat(mesh.group(GroupKind.TENSOR, 13)).hasToString("tp[12,13] (id 22)");
        assertThat(mesh.group(GroupKind.DATA, 13)).hasToString("dp[9,11,13,15] (id 35)");
        assertThat(mesh.group(GroupKind.PIPELINE, 13)).hasToString("pp[5,13] (id 53)");
        assertThat(mesh.group(GroupKind.EXPERT, 13)).hasToString("ep[13,15] (id 71)");
        assertThat(mesh.group(GroupKind.EXPERT_DATA, 13)).hasToString("edp[9,13] (id 85)");
        assertThat(mesh.group(GroupKind.DATA, 13).groupRankOf(13)).isEqualTo(2);
        assertThat(mesh.group(GroupKind.EXPERT_DATA, 13).groupRankOf(13)).isEqualTo(1);
    }
}
