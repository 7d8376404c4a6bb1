// Great-circle geometry on the sphere, in degrees (sites on Earth and positions on the sky alike).
const RAD = Math.PI / 180;

/** Angular distance between (lon1, lat1) and (lon2, lat2), degrees; haversine, stable for small angles. */
export function greatCircleDeg(lon1: number, lat1: number, lon2: number, lat2: number): number {
  const dLat = (lat2 - lat1) * RAD;
  const dLon = (lon2 - lon1) * RAD;
  const a = Math.sin(dLat / 2) ** 2 + Math.cos(lat1 * RAD) * Math.cos(lat2 * RAD) * Math.sin(dLon / 2) ** 2;
  return (2 * Math.asin(Math.min(1, Math.sqrt(a)))) / RAD;
}

export const EARTH_RADIUS_KM = 6371.0088;
export const greatCircleKm = (lon1: number, lat1: number, lon2: number, lat2: number) =>
  greatCircleDeg(lon1, lat1, lon2, lat2) * RAD * EARTH_RADIUS_KM;

/** pgSphere spoly text in radians '{(a , b),(c , d)}' → DALI polygon 'ra dec ra dec ...' in degrees. */
export function spolyToDali(text: string | null): string | null {
  if (!text) return null;
  const nums = text.match(/-?\d+(?:\.\d+)?(?:e-?\d+)?/gi)?.map(Number) ?? [];
  return nums.map((n) => +(n / RAD).toFixed(9)).join(' ');
}
