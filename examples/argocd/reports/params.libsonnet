{ schedule: '0 3 * * *' }
