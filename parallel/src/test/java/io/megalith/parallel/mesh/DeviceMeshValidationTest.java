package io.megalith.parallel.mesh;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** Invalid layouts fail at once, with a message that names the setting to change. */
class DeviceMeshValidationTest {
    @Test
    void everyDimensionMustBeAtLeastOne() {
        assertThatThrownBy(() -> new DeviceMesh(0, 1, 1, 1)).hasMessage("parallel.dp must be >= 1 (got 0)");
        assertThatThrownBy(() -> new DeviceMesh(1, -2, 1, 1)).hasMessage("parallel.tp must be >= 1 (got -2)");
        assertThatThrownBy(() -> new DeviceMesh(1, 1, 0, 1)).hasMessage("parallel.pp must be >= 1 (got 0)");
        assertThatThrownBy(() -> new DeviceMesh(1, 1, 1, 0)).hasMessage("parallel.ep must be >= 1 (got 0)");
        assertThatThrownBy(() -> DeviceMesh.forWorld(0, 1, 1, 1, 1)).hasMessage("world size must be >= 1 (got 0)");
    }

    @Test
    void expertParallelMustDivideDataParallel() {
        assertThatThrownBy(() -> new DeviceMesh(4, 2, 1, 3))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("parallel.ep 3 does not divide parallel.dp 4: expert-parallel groups are carved out of"
                        + " the data-parallel ranks; set parallel.ep to one of [1, 2, 4]");
        assertThatThrownBy(() -> new DeviceMesh(2, 1, 1, 4)).hasMessageContaining("set parallel.ep to one of [1, 2]");
    }

    @Test
    void worldSizeMismatchSaysWhichDpFits() {
        assertThatThrownBy(() -> DeviceMesh.forWorld(12, 2, 2, 2, 1))
                .hasMessage("world size 12 != dp 2 x tp 2 x pp 2 = 8; set parallel.dp so that dp x tp x pp = 12,"
                        + " i.e. parallel.dp = 3");
        assertThatThrownBy(() -> DeviceMesh.forWorld(12, 2, 2, 2, 2))
                .hasMessageEndingWith("i.e. parallel.dp = 3, and parallel.ep to one of [1, 3]");
    }

    @Test
    void worldSizeMismatchSaysWhenNoDpFits() {
        assertThatThrownBy(() -> DeviceMesh.forWorld(6, 2, 2, 2, 1))
                .hasMessage("world size 6 != dp 2 x tp 2 x pp 2 = 8; set parallel.dp so that dp x tp x pp = 6,"
                        + " which needs tp x pp (4) to divide 6: change parallel.tp or parallel.pp,"
                        + " or run on a multiple of 4 ranks");
    }

    @Test
    void forWorldAcceptsAMatchingLayout() {
        assertThat(DeviceMesh.forWorld(8, 2, 2, 2, 2)).isEqualTo(new DeviceMesh(2, 2, 2, 2));
    }

    @Test
    void inferDataParallelTakesWhatTpAndPpLeave() {
        assertThat(DeviceMesh.inferDataParallel(16, 2, 2, 2)).isEqualTo(new DeviceMesh(4, 2, 2, 2));
        assertThat(DeviceMesh.inferDataParallel(3, 1, 1, 1)).isEqualTo(DeviceMesh.of(3, 1, 1));
        assertThatThrownBy(() -> DeviceMesh.inferDataParallel(6, 4, 1, 1))
                .hasMessageStartingWith("world size 6 is not a multiple of tp 4 x pp 1 = 4; ")
                .hasMessageContaining("change parallel.tp or parallel.pp");
        assertThatThrownBy(() -> DeviceMesh.inferDataParallel(12, 2, 2, 2))
                .hasMessageContaining("parallel.ep 2 does not divide parallel.dp 3");
    }

    @Test
    void tooLargeAMeshIsRejected() {
        assertThatThrownBy(() -> new DeviceMesh(65536, 65536, 1, 1))
                .hasMessageStartingWith("dp 65536 x tp 65536 x pp 1 = 4294967296 ranks is more than the supported ");
    }

    @Test
    void ranksAndCoordinatesOutsideTheMeshAreRejected() {
        DeviceMesh mesh = new DeviceMesh(2, 2, 2, 2);
        assertThatThrownBy(() -> mesh.coordinates(8))
                .hasMessage("rank 8 outside the 8 ranks (0..7) of mesh dp 2 x tp 2 x pp 2 = 8 ranks, ep 2 x edp 1");
        assertThatThrownBy(() -> mesh.coordinates(-1)).hasMessageStartingWith("rank -1 outside the 8 ranks");
        assertThatThrownBy(() -> mesh.group(GroupKind.DATA, 8)).hasMessageStartingWith("rank 8 outside");
        assertThatThrownBy(() -> mesh.rank(2, 0, 0)).hasMessage("tp rank 2 outside 0..1");
        assertThatThrownBy(() -> mesh.rank(0, 0, -1)).hasMessage("pp rank -1 outside 0..1");
        assertThatThrownBy(() -> mesh.rank(new MeshCoordinates(0, 1, 0, 0, 0)))
                .hasMessageStartingWith("coordinates tp 0, dp 1 (ep 0, edp 0), pp 0 are inconsistent");
    }
}
