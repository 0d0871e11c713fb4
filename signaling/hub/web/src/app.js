// The hub serves index.html for every path that is not a file
// (signaling/hub/http.go), so this bundle routes by path: /dashboard is the
// fleet dashboard, anything else the customer page (/c/{invite code}).
import { startCustomer } from './customer.js';
import { startDashboard } from './dashboard.js';

if (location.pathname.replace(/\/+$/, '') === '/dashboard') {
  startDashboard();
} else {
  startCustomer();
}
